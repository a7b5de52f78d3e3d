<?php
// Tests only: never served by a web server FluxCP runs in.
if (PHP_SAPI !== 'cli' && PHP_SAPI !== 'cli-server') {
    exit;
}
// Save settings through the addon's settings page, as an admin's form post
// would (with the session's CSRF token); print the page's verdict. Used by
// tests/tests/fluxcp.rs to show the aggregator picks the values up.
//   php tests/save_settings.php '{"cpu":77}' 4000
require __DIR__ . '/bootstrap.php';

p2p_configure();
$_SESSION = array();
$form = array(
    'alert_thresholds' => $argv[1],
    'notification_emails' => '["ops@example.org"]',
    'discord_webhook' => 'https://discord.example/api/webhooks/1/x',
    'monitoring_interval' => $argv[2],
    'csrf' => P2PMonitor_Csrf::token(),
);
$html = p2p_page('settings', array(), $form);
$saved = strpos($html, '<p class="green">') !== false && strpos($html, 'data-p2p-error') === false;
echo $saved ? "saved\n" : "not saved\n";
