<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// What is missing for the pages to work: the addon's settings, FluxCP's
// installer record of the schema, the table, the API and its token, and
// whether the live feed accepts this panel's origin.
$title = Flux::message('P2PSetupTitle');
$p2p = P2PMonitor_Addon::fromFlux();
$config = array();
foreach (array('coordinator_api', 'api_token', 'websocket_url') as $key) {
    $config[$key] = Flux::config('P2PMonitor.' . $key);
}
$setup = new P2PMonitor_Setup($p2p, $config);
$checks = $setup->run(
    dirname(__DIR__, 2) . '/schemas/logindb',
    FLUX_DATA_DIR . '/logs/schemas/logindb/' . $server->loginAthenaGroup->serverName,
    new P2PMonitor_Settings($server->connection, $server->loginDatabase),
    P2PMonitor_Setup::origin($_SERVER)
);
$failed = count(array_filter($checks, function ($check) {
    return !$check['ok'];
}));
