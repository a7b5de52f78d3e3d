<?php
if (!defined('FLUX_ROOT')) exit;

// p2pmon for FluxCP: the monitoring pages under ?module=p2p.
// Two values to set: where the aggregator's API answers, and an API token
// (p2pmon-aggregator token create --api). The other keys are the seed's.
return array(
    'P2PMonitor' => array(
        'coordinator_api'   => 'http://localhost:5121',        // the aggregator's query API
        'api_token'         => '',                             // never sent to browsers
        'websocket_url'     => 'ws://localhost:5122/monitor',  // live updates, as the browser reaches it
        'refresh_interval'  => 5000,                           // ms between page refreshes of summaries
        'alert_channels'    => array('email', 'discord'),
        'metrics_retention' => 30,                             // days (set in the aggregator's metrics.yml)
        'timeout'           => 5,                              // seconds per API call
    ),
    'MenuItems' => array(
        'P2P Monitoring' => array(
            'Overview' => array('module' => 'p2p', 'action' => 'monitoring'),
            'Hosts'    => array('module' => 'p2p', 'action' => 'hosts'),
            'Maps'     => array('module' => 'p2p', 'action' => 'maps'),
            'Network'  => array('module' => 'p2p', 'action' => 'network'),
            'Alerts'   => array('module' => 'p2p', 'action' => 'alerts'),
            'Settings' => array('module' => 'p2p', 'action' => 'settings'),
        ),
    ),
);
