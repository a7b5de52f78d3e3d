<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// The p2p_monitor_settings table: each value shown as stored; a save checks
// and writes only the values the admin changed (the others stay as stored),
// all or nothing, CSRF-protected, recorded with the admin's name. The
// aggregator reads the table (settings.url) and applies it live.
$title = Flux::message('P2PSettingsTitle');
P2PMonitor_Addon::fromFlux();
$csrf = P2PMonitor_Csrf::token();
$settings = new P2PMonitor_Settings($server->connection, $server->loginDatabase);
$errors = array();
$notice = null;
$error = null;
$rows = array();
$posted = count($_POST) > 0;
try {
    if ($posted) {
        if (!P2PMonitor_Csrf::valid($params->get('csrf'))) {
            $error = Flux::message('P2PBadCsrf');
        } else {
            $given = array();
            foreach (P2PMonitor_Settings::NAMES as $name) {
                $given[$name] = $params->get($name);
            }
            $changed = $settings->changed($given);
            $errors = $changed ? $settings->save($changed, P2PMonitor_Addon::currentUser($session)) : array();
            if ($errors) {
                $error = Flux::message('P2PNotSaved');
            } else {
                $notice = $changed ? P2PMonitor_View::text('P2PSaved', implode(', ', array_keys($changed)))
                    : Flux::message('P2PNothingChanged');
            }
        }
    }
    $rows = $settings->rows();
} catch (P2PMonitor_Error $failure) {
    $error = $failure;
}
$values = array_map(function ($row) {
    return $row['value'];
}, $rows);
if ($posted && $errors) {
    foreach (array_keys($errors) as $name) {
        $values[$name] = (string) $params->get($name);
    }
}
