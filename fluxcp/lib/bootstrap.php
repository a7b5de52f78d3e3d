<?php
if (!defined('FLUX_ROOT')) exit;

require_once __DIR__ . '/P2PMonitor/Client.php';
require_once __DIR__ . '/P2PMonitor/Settings.php';
require_once __DIR__ . '/P2PMonitor/Csrf.php';
require_once __DIR__ . '/P2PMonitor/View.php';
require_once __DIR__ . '/P2PMonitor/Tables.php';
require_once __DIR__ . '/P2PMonitor/Addon.php';
require_once __DIR__ . '/P2PMonitor/Setup.php';
