<?php
// Tests only: never served by a web server FluxCP runs in.
if (PHP_SAPI !== 'cli' && PHP_SAPI !== 'cli-server') {
    exit;
}
// A FluxCP stand-in for the browser tests: PHP's built-in server runs the
// addon's pages with tests/bootstrap.php's stand-ins and FluxCP's chrome
// (admin menu, sub-menu, language footer). As in FluxCP (index.php), while
// a schema is not installed every request shows the installer, which runs
// them given the installer password; a login form keeps the user in the
// PHP session, as FluxCP's account/login does.
//   php -S 127.0.0.1:PORT tests/server.php   (environment as for PHPUnit,
//   plus P2PMON_DATA_DIR, P2PMON_REFRESH in ms)
require __DIR__ . '/bootstrap.php';

const INSTALLER_PASSWORD = 'secretpassword'; // FluxCP's config/application.php default

session_start();
p2p_configure(null, null, array('refresh_interval' => (int) (getenv('P2PMON_REFRESH') ?: 5000)));
$module = isset($_GET['module']) ? (string) $_GET['module'] : 'p2p';
$action = isset($_GET['action']) ? (string) $_GET['action'] : 'monitoring';
$posted = $_SERVER['REQUEST_METHOD'] === 'POST';

function chrome($title, $body)
{
    echo "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>", htmlspecialchars($title),
        "</title></head><body>\n", $body, "\n</body></html>\n";
}

$installer = p2p_installer();
if ($installer->updateNeeded()) {
    $note = '';
    if ($posted && isset($_POST['installer_password'])) {
        if (hash_equals(INSTALLER_PASSWORD, (string) $_POST['installer_password'])) {
            $installer->updateAll(new StubConnection(p2p_pdo()), p2p_env('P2PMON_MYSQL_DB'));
            header('Location: ?module=account&action=login');
            exit;
        }
        $note = '<p class="red">Incorrect password.</p>';
    }
    $missing = implode(', ', array_map('basename', $installer->missing()));
    chrome('Install', '<h2 id="installer">Install &amp; Update</h2>' . $note
        . '<p>Schemas to install: ' . htmlspecialchars($missing) . '</p>'
        . '<form method="post"><input type="password" name="installer_password">'
        . '<button type="submit" name="update_all">Install or Update Everything</button></form>');
    exit;
}

if ($module === 'account' && $action === 'login') {
    if ($posted && isset($_POST['username']) && preg_match('/^\w{4,23}$/', (string) $_POST['username'])) {
        $_SESSION['p2p_user'] = (string) $_POST['username'];
        header('Location: ?module=p2p&action=monitoring');
        exit;
    }
    chrome('Log In', '<h2>Log In</h2><form method="post"><input name="username"> <input type="password" name="password">'
        . '<button type="submit">Log In</button></form>');
    exit;
}

$user = isset($_SESSION['p2p_user']) ? $_SESSION['p2p_user'] : null;
$actions = array_keys(P2PMonitor_Addon::PAGES);
$actions[] = 'host';
$actions[] = 'ticket';
if ($module !== 'p2p' || !in_array($action, $actions, true)) {
    http_response_code(404);
    exit;
}
if ($user === null) {
    header('Location: ?module=account&action=login');
    exit;
}
$html = p2p_page($action, $_GET, $posted ? $_POST : null, $user, AccountLevel::ADMIN, true);
chrome('FluxCP', $html);
