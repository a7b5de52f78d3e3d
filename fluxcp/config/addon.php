<?php
if (!defined('FLUX_ROOT')) exit;

// p2pmon for FluxCP: the monitoring pages under ?module=p2p.
// Two values to set: where the aggregator's API answers, and an API token
// (p2pmon-aggregator token create --api). alert_channels and metrics_retention
// are informational: the aggregator's alerts.yml and metrics.yml set them.
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
    // FluxCP moves every menu item whose access level is at or above
    // AdminMenuGroupLevel (LOWGM by default) into its admin menu, flat and
    // without its group (Flux_Template::getMenuItems), so one entry leads to
    // the overview and the pages link to each other by SubMenuItems. Names
    // are lang/ keys: FluxCP's theme passes menu names through
    // Flux::message(). The sub-menu labels below are English defaults; each
    // page replaces them with the user's language (P2PMonitor_Addon).
    // The players' server status stays in the main menu (its level is
    // ANYONE), in a group of its own.
    'MenuItems' => array(
        'P2PMonitoringLabel' => array(
            'P2PMonitoringLabel' => array('module' => 'p2p', 'action' => 'monitoring'),
        ),
        'P2PStatusMenuGroup' => array(
            'P2PStatusMenu' => array('module' => 'p2p', 'action' => 'status'),
        ),
    ),
    'SubMenuItems' => array(
        'p2p' => array(
            'monitoring' => 'Overview',
            'hosts'      => 'Hosts',
            'maps'       => 'Maps',
            'network'    => 'Network',
            'alerts'     => 'Alerts',
            'settings'   => 'Settings',
            'setup'      => 'Setup check',
        ),
    ),
);
