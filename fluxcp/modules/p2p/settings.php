<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// The p2p_monitor_settings table: checked, CSRF-protected, saved whole or
// not at all. The aggregator reads it (settings.url) and applies it live.
$title = Flux::message('P2PSettingsTitle');
$csrf = P2PMonitor_Csrf::token();
$settings = new P2PMonitor_Settings($server->connection);
$errors = array();
$notice = null;
$error = null;
$posted = strtoupper(isset($_SERVER['REQUEST_METHOD']) ? $_SERVER['REQUEST_METHOD'] : 'GET') === 'POST';
if ($posted) {
    if (!P2PMonitor_Csrf::valid($params->get('csrf'))) {
        $error = Flux::message('P2PBadCsrf');
    } else {
        $given = array();
        foreach (P2PMonitor_Settings::NAMES as $name) {
            $given[$name] = (string) $params->get($name);
        }
        $errors = $settings->save($given);
        if ($errors) {
            $error = Flux::message('P2PNotSaved');
        } else {
            $notice = Flux::message('P2PSaved');
        }
    }
}
$values = $settings->all();
if ($posted && $errors) {
    foreach (P2PMonitor_Settings::NAMES as $name) {
        $values[$name] = (string) $params->get($name);
    }
}
