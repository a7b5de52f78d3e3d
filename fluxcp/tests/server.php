<?php
// Tests only: never served by a web server FluxCP runs in.
if (PHP_SAPI !== 'cli' && PHP_SAPI !== 'cli-server') {
    exit;
}
// A FluxCP stand-in for the browser test: PHP's built-in server renders one
// of the addon's pages (controller and view, with tests/bootstrap.php's
// stubs) inside a bare HTML page, as FluxCP's theme would wrap it.
//   php -S 127.0.0.1:PORT tests/server.php   (environment as for PHPUnit)
require __DIR__ . '/bootstrap.php';

p2p_configure();
$action = isset($_GET['action']) ? (string) $_GET['action'] : 'hosts';
if (!in_array($action, array('monitoring', 'hosts', 'host', 'maps', 'network', 'alerts'), true)) {
    http_response_code(404);
    exit;
}
$html = p2p_page($action, $_GET);
echo "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>FluxCP</title></head><body>\n", $html, "\n</body></html>\n";
