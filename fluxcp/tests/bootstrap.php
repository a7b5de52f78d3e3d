<?php
// Tests only: never served by a web server FluxCP runs in.
if (PHP_SAPI !== 'cli' && PHP_SAPI !== 'cli-server') {
    exit;
}
// The smallest stand-in for FluxCP's runtime that the addon touches:
// Flux::config / Flux::message, AccountLevel, $params, $session, $server
// with a login-server connection (real PDO to MariaDB), and a template
// that runs a controller and its view in one scope, as FluxCP does.
define('FLUX_ROOT', dirname(__DIR__));
require_once dirname(__DIR__) . '/lib/bootstrap.php';

class AccountLevel
{
    const ANYONE = -2;
    const UNAUTH = -1;
    const NORMAL = 0;
    const LOWGM = 1;
    const HIGHGM = 2;
    const ADMIN = 99;
}

class Flux
{
    public static $config = array();
    private static $messages = null;

    public static function config($key)
    {
        $value = self::$config;
        foreach (explode('.', $key) as $part) {
            if (!is_array($value) || !array_key_exists($part, $value)) {
                return null;
            }
            $value = $value[$part];
        }
        return $value;
    }

    public static function message($key)
    {
        if (self::$messages === null) {
            self::$messages = require dirname(__DIR__) . '/lang/en_us.php';
        }
        return isset(self::$messages[$key]) ? self::$messages[$key] : $key;
    }
}

class StubParams
{
    private $values;

    public function __construct(array $values)
    {
        $this->values = $values;
    }

    public function get($key)
    {
        return isset($this->values[$key]) ? $this->values[$key] : null;
    }
}

/** FluxCP's connection: getStatement($sql) gives a statement with execute($bind). */
class StubConnection
{
    public $pdo;

    public function __construct(PDO $pdo)
    {
        $this->pdo = $pdo;
    }

    public function getStatement($sql)
    {
        return $this->pdo->prepare($sql);
    }
}

class StubTemplate
{
    public function url($module, $action, array $query = array())
    {
        return htmlspecialchars('?' . http_build_query(array('module' => $module, 'action' => $action) + $query));
    }

    /** Run modules/p2p/$action.php then themes/default/p2p/$action.php; the page's HTML. */
    public function render($action, $params, $server, $session)
    {
        include FLUX_ROOT . '/modules/p2p/' . $action . '.php';
        ob_start();
        include FLUX_ROOT . '/themes/default/p2p/' . $action . '.php';
        return ob_get_clean();
    }
}

function p2p_env($name)
{
    $value = getenv($name);
    if ($value === false || $value === '') {
        throw new RuntimeException("$name is not set (tests/tests/fluxcp.rs sets it)");
    }
    return $value;
}

function p2p_pdo()
{
    $pdo = new PDO(p2p_env('P2PMON_MYSQL_DSN'), 'root', '', array(PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION));
    $pdo->exec('USE `' . p2p_env('P2PMON_MYSQL_DB') . '`');
    return $pdo;
}

/** The settings table back to the schema file's default rows. */
function p2p_reset_settings()
{
    $pdo = p2p_pdo();
    $pdo->exec('DROP TABLE IF EXISTS p2p_monitor_settings');
    $schema = file_get_contents(FLUX_ROOT . '/schemas/logindb/p2p_monitor_settings.20261126.sql');
    foreach (array_filter(array_map('trim', explode(';', $schema))) as $statement) {
        $pdo->exec($statement);
    }
}

function p2p_configure($api = null, $token = null)
{
    Flux::$config = array('P2PMonitor' => array(
        'coordinator_api' => $api !== null ? $api : p2p_env('P2PMON_API'),
        'api_token' => $token !== null ? $token : p2p_env('P2PMON_TOKEN'),
        'websocket_url' => p2p_env('P2PMON_WS'),
        'refresh_interval' => 5000,
        'timeout' => 3,
    ));
}

/** Render `$action` as FluxCP would, with `$get` and (for a POST) `$post`. */
function p2p_page($action, array $get = array(), array $post = null)
{
    $_SERVER['REQUEST_METHOD'] = $post === null ? 'GET' : 'POST';
    $params = new StubParams($post === null ? $get : array_merge($get, $post));
    $server = new stdClass();
    $server->connection = new StubConnection(p2p_pdo());
    $session = new stdClass();
    $session->account = new stdClass();
    $session->account->userid = 'admin';
    $template = new StubTemplate();
    return $template->render($action, $params, $server, $session);
}
