<?php
if (!defined('FLUX_ROOT')) exit;

return array(
    'P2PMonitoringTitle' => 'P2P Monitoring',
    'P2PHostsTitle'      => 'P2P Hosts',
    'P2PHostTitle'       => 'P2P Host',
    'P2PMapsTitle'       => 'Map Distribution',
    'P2PNetworkTitle'    => 'P2P Network',
    'P2PAlertsTitle'     => 'P2P Alerts',
    'P2PSettingsTitle'   => 'Monitoring Settings',
    'P2PUnreachable'     => 'The monitoring service could not be reached:',
    'P2PBadCsrf'         => 'The form expired; please try again.',
    'P2PSaved'           => 'Settings saved; the aggregator applies them within seconds.',
    'P2PNotSaved'        => 'Nothing was saved; correct the values below.',
    'P2PLive'            => 'Live updates',
    'P2PNoLive'          => 'Live updates are off (no WebSocket ticket); the page refreshes itself.',
);
