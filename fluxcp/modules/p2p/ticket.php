<?php
if (!defined('FLUX_ROOT')) exit;
require_once __DIR__ . '/../../lib/bootstrap.php';

// A fresh single-use feed ticket for the page's live client, which asks for one each time it (re)connects: POST
// with the page's CSRF token; JSON, no page around it (the API token stays on this side).
list($status, $answer) = P2PMonitor_Addon::fromFlux()->ticketAnswer($_SERVER['REQUEST_METHOD'], $params->get('csrf'));
http_response_code($status);
header('Content-Type: application/json');
header('Cache-Control: no-store');
echo json_encode($answer);
exit;
