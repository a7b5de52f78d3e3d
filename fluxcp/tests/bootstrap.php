<?php
// Tests only: never served by a web server FluxCP runs in.
if (PHP_SAPI !== 'cli' && PHP_SAPI !== 'cli-server') {
    exit;
}
// Stand-ins for the parts of FluxCP (rathena/FluxCP) the addon touches, each
// behaving as the FluxCP file named beside it does where the addon relies on
// it, and no more. The database is the real MariaDB (tests/tests/fluxcp.rs
// gives its address and a database of the test's own).
define('FLUX_ROOT', dirname(__DIR__));
if (!defined('FLUX_DATA_DIR')) {
    // FluxCP: index.php defines FLUX_DATA_DIR ('data'); the installer keeps its markers under it.
    define('FLUX_DATA_DIR', getenv('P2PMON_DATA_DIR') ?: sys_get_temp_dir() . '/p2pmon-fluxcp-' . getmypid());
}
require_once dirname(__DIR__) . '/lib/bootstrap.php';

/** FluxCP: lib/Flux/Authorization.php's AccountLevel constants (group levels). */
class AccountLevel
{
    const ANYONE = -2;
    const UNAUTH = -1;
    const NORMAL = 0;
    const LOWGM = 1;
    const HIGHGM = 2;
    const ADMIN = 99;
}

/**
 * FluxCP: lib/Flux/DataObject.php. Every row FluxCP fetches is one of these
 * (PDO::FETCH_CLASS sets the columns through __set): values come out through
 * __get, a missing one as null; there is no __isset, so isset() on a column
 * is always false, and (array) gives only the internal properties.
 */
class StubDataObject
{
    protected $_data = array();

    public function __construct(array $data = null, $defaults = array())
    {
        if ($data !== null) {
            $this->_data = $data;
        }
        foreach ($defaults as $prop => $value) {
            if (!isset($this->_data[$prop])) {
                $this->_data[$prop] = $value;
            }
        }
    }

    public function __set($prop, $value)
    {
        $this->_data[$prop] = $value;
    }

    public function __get($prop)
    {
        return isset($this->_data[$prop]) ? $this->_data[$prop] : null;
    }
}

/**
 * FluxCP: lib/Flux/Connection/Statement.php. execute() passes the bound
 * values to PDO (on PHP 8 a failed statement throws PDOException, as PDO's
 * default error mode is exceptions and FluxCP does not change it); other
 * calls go to the PDOStatement.
 */
class StubStatement
{
    public $stmt;

    public function __construct(PDOStatement $stmt)
    {
        $this->stmt = $stmt;
    }

    public function execute(array $inputParameters = array())
    {
        return $this->stmt->execute(empty($inputParameters) ? null : $inputParameters);
    }

    public function __call($method, $args)
    {
        return call_user_func_array(array($this->stmt, $method), $args);
    }
}

/** FluxCP: lib/Flux/Connection.php: getStatement() fetches rows as data objects. */
class StubConnection
{
    public $pdo;

    public function __construct(PDO $pdo)
    {
        $this->pdo = $pdo;
    }

    public function getStatement($sql)
    {
        $sth = $this->pdo->prepare($sql);
        $sth->setFetchMode(PDO::FETCH_CLASS, 'StubDataObject', array(null, array()));
        return new StubStatement($sth);
    }

    public function useDatabase($name)
    {
        $this->pdo->exec('USE `' . str_replace('`', '', $name) . '`');
    }
}

/** FluxCP: lib/Flux/Config.php, as far as get/set with dotted keys and toArray() go. */
class StubConfig
{
    private $values;

    public function __construct(array $values)
    {
        $this->values = $values;
    }

    public function toArray()
    {
        return $this->values;
    }

    public function get($key)
    {
        $value = $this->values;
        foreach (explode('.', $key) as $part) {
            if (!is_array($value) || !array_key_exists($part, $value)) {
                return null;
            }
            $value = $value[$part];
        }
        return is_array($value) ? new StubConfig($value) : $value;
    }

    public function set($key, $value)
    {
        $base = &$this->values;
        foreach (explode('.', $key) as $part) {
            if (!isset($base[$part]) || !is_array($base[$part])) {
                $base[$part] = array();
            }
            $base = &$base[$part];
        }
        $base = $value;
        return $value;
    }
}

/**
 * FluxCP: lib/Flux.php. config(): arrays come back as config objects.
 * message(): lib/Flux.php's parseLanguageConfigFile: the addon's
 * lang/en_us.php, with lang/<cookie "language">.php over it when that
 * language is one FluxCP itself ships (getAvailableLanguages lists
 * FluxCP's lang/ folder); a missing key gives ' ' . $key.
 */
class Flux
{
    /** FluxCP's lang/ folder (en_us, es_es, id_id, pt_br). */
    const LANGUAGES = array('en_us' => 'English', 'es_es' => 'Español', 'id_id' => 'Bahasa Indonesia', 'pt_br' => 'Português');

    public static $config;
    private static $messages = null;
    private static $messagesLanguage = null;

    public static function config($key, $value = null)
    {
        if ($value !== null) {
            return self::$config->set($key, $value);
        }
        return self::$config->get($key);
    }

    public static function message($key)
    {
        $language = isset($_COOKIE['language']) && array_key_exists($_COOKIE['language'], self::LANGUAGES)
            ? $_COOKIE['language'] : 'en_us';
        if (self::$messages === null || self::$messagesLanguage !== $language) {
            self::$messages = require FLUX_ROOT . '/lang/en_us.php';
            $file = FLUX_ROOT . '/lang/' . $language . '.php';
            if ($language !== 'en_us' && file_exists($file)) {
                self::$messages = array_merge(self::$messages, require $file);
            }
            self::$messagesLanguage = $language;
        }
        return isset(self::$messages[$key]) ? self::$messages[$key] : ' ' . $key;
    }

    public static function getAvailableLanguages()
    {
        return self::LANGUAGES;
    }
}

/** FluxCP: lib/Flux/Config.php as $params: get() of the request's values, null when absent. */
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

/**
 * FluxCP: lib/Flux/SessionData.php. account is a data object: a logged-in
 * user's login row plus group_level; nobody's is one holding only
 * group_level UNAUTH. isLoggedIn() compares the level.
 */
class StubSession
{
    public $account;
    public $loginAthenaGroup;

    public function __construct($userid, $groupLevel, $loginAthenaGroup)
    {
        $this->account = $userid === null
            ? new StubDataObject(null, array('group_level' => AccountLevel::UNAUTH))
            : new StubDataObject(array('account_id' => 2000000, 'userid' => $userid, 'group_level' => $groupLevel));
        $this->loginAthenaGroup = $loginAthenaGroup;
    }

    public function isLoggedIn()
    {
        return $this->account->group_level >= AccountLevel::NORMAL;
    }
}

/**
 * FluxCP: lib/Flux/Installer/Schema.php. A schema is a <name>.<version>.sql
 * in data/schemas/logindb or an addon's schemas/logindb; it counts as
 * installed when data/logs/schemas/logindb/<server>/<name>.<version>.txt
 * exists. update() runs each missing file whole as one statement in the
 * login database and then writes its marker; while any is missing
 * (updateNeeded) FluxCP shows only its installer (index.php).
 */
class StubInstaller
{
    private $schemaDir;
    private $markerDir;

    public function __construct($schemaDir, $markerDir)
    {
        $this->schemaDir = $schemaDir;
        $this->markerDir = $markerDir;
    }

    public function missing()
    {
        $missing = array();
        foreach (glob($this->schemaDir . '/*.sql') ?: array() as $file) {
            if (preg_match('/^(\w+)\.(\d+)$/', basename($file, '.sql'))
                && !file_exists($this->markerDir . '/' . basename($file, '.sql') . '.txt')) {
                $missing[] = $file;
            }
        }
        sort($missing);
        return $missing;
    }

    public function updateNeeded()
    {
        return (bool) $this->missing();
    }

    public function updateAll(StubConnection $connection, $database)
    {
        foreach ($this->missing() as $file) {
            $connection->useDatabase($database);
            $connection->getStatement(file_get_contents($file))->execute();
            if (!is_dir($this->markerDir)) {
                mkdir($this->markerDir, 0777, true);
            }
            touch($this->markerDir . '/' . basename($file, '.sql') . '.txt');
        }
    }
}

/** FluxCP: lib/Flux/Authorization.php: an action is allowed when the user's level reaches access.php's. */
class StubAuthorization
{
    private $access;
    private $session;

    public function __construct(array $access, StubSession $session)
    {
        $this->access = $access;
        $this->session = $session;
    }

    public function config($key)
    {
        $value = $this->access;
        foreach (explode('.', $key) as $part) {
            if (!is_array($value) || !array_key_exists($part, $value)) {
                return null;
            }
            $value = $value[$part];
        }
        return $value;
    }

    public function actionAllowed($module, $action)
    {
        $level = $this->config("modules.$module.$action");
        return $level !== null && $this->session->account->group_level >= $level;
    }
}

/**
 * FluxCP: lib/Flux/Template.php. render(): the controller first, then the
 * header, the view and the footer, in one scope. getMenuItems(): a menu item
 * whose action's access level is at or above AdminMenuGroupLevel goes to the
 * admin menu (flat, without its group), the others stay in their group.
 * getSubMenuItems(): SubMenuItems.<module>, the allowed actions only. The
 * chrome drawn around the page follows themes/default/main/sidebar.php
 * (menu names through Flux::message), main/submenu.php (names as they are)
 * and footer.php with header.php's updatePreferredLanguage (a "language"
 * cookie, then a reload).
 */
class StubTemplate
{
    public $moduleName = 'p2p';
    private $auth;

    public function __construct(StubAuthorization $auth)
    {
        $this->auth = $auth;
    }

    public function url($module, $action, array $query = array())
    {
        return htmlspecialchars('?' . http_build_query(array('module' => $module, 'action' => $action) + $query));
    }

    public function getMenuItems($adminMenus = false)
    {
        $level = Flux::config('AdminMenuGroupLevel');
        $menu = Flux::config('MenuItems');
        $items = array();
        foreach ($menu ? $menu->toArray() : array() as $category => $entries) {
            foreach ($entries as $name => $entry) {
                $module = $entry['module'];
                $action = isset($entry['action']) ? $entry['action'] : 'index';
                if (!$this->auth->actionAllowed($module, $action)) {
                    continue;
                }
                $item = array('name' => $name, 'module' => $module, 'action' => $action, 'url' => $this->url($module, $action));
                $isAdmin = $this->auth->config("modules.$module.$action") >= $level;
                if ($adminMenus && $isAdmin) {
                    $items[] = $item;
                } elseif (!$adminMenus && !$isAdmin) {
                    $items[$category][] = $item;
                }
            }
        }
        return $items;
    }

    public function getSubMenuItems()
    {
        $menus = Flux::config('SubMenuItems.' . $this->moduleName);
        $items = array();
        foreach ($menus ? $menus->toArray() : array() as $action => $name) {
            if ($this->auth->actionAllowed($this->moduleName, $action)) {
                $items[] = array('name' => $name, 'module' => $this->moduleName, 'action' => $action);
            }
        }
        return $items;
    }

    /** Run modules/p2p/$action.php then, with FluxCP's chrome when `$chrome`, themes/default/p2p/$action.php. */
    public function render($action, $params, $server, $session, $chrome)
    {
        include FLUX_ROOT . '/modules/p2p/' . $action . '.php';
        ob_start();
        if ($chrome) {
            $this->header($params);
        }
        include FLUX_ROOT . '/themes/default/p2p/' . $action . '.php';
        if ($chrome) {
            $this->footer();
        }
        return ob_get_clean();
    }

    private function header($params)
    {
        echo "<div id=\"admin_sidebar\">\n";
        foreach ($this->getMenuItems(true) as $item) {
            printf("<a class=\"admin-menu-item\" href=\"%s\">%s</a>\n", $item['url'], htmlspecialchars(Flux::message($item['name'])));
        }
        echo "</div>\n<div id=\"sidebar\">\n";
        foreach ($this->getMenuItems() as $category => $items) {
            printf("<strong class=\"menu-category\">%s</strong>\n", htmlspecialchars(Flux::message($category)));
            foreach ($items as $item) {
                printf("<a class=\"menu-item\" href=\"%s\">%s</a>\n", $item['url'], htmlspecialchars(Flux::message($item['name'])));
            }
        }
        echo "</div>\n";
        $links = array();
        foreach ($this->getSubMenuItems() as $item) {
            $current = $params->get('action') === $item['action'] ? ' current-sub-menu' : '';
            $links[] = sprintf('<a href="%s" class="sub-menu-item%s">%s</a>', $this->url($item['module'], $item['action']),
                $current, htmlspecialchars($item['name']));
        }
        if ($links) {
            echo '<div id="submenu">Menu: ', implode(' / ', $links), "</div>\n";
        }
    }

    private function footer()
    {
        echo "<div id=\"footer\">Language: <select name=\"preferred_language\" onchange=\"updatePreferredLanguage(this)\">\n";
        foreach (Flux::getAvailableLanguages() as $key => $name) {
            $selected = !empty($_COOKIE['language']) && $_COOKIE['language'] === $key ? ' selected="selected"' : '';
            printf("<option value=\"%s\"%s>%s</option>\n", htmlspecialchars($key), $selected, htmlspecialchars($name));
        }
        echo "</select></div>\n<script>function updatePreferredLanguage(sel) {"
            . " document.cookie = 'language=' + sel.options[sel.selectedIndex].value + '; path=/'; location.reload(); }</script>\n";
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
    $pdo = new PDO(p2p_env('P2PMON_MYSQL_DSN'), 'root', '');
    $pdo->exec('USE `' . p2p_env('P2PMON_MYSQL_DB') . '`');
    return $pdo;
}

/** The addon's schema files, as FluxCP's installer orders them (by version). */
function p2p_schema_files()
{
    $files = glob(FLUX_ROOT . '/schemas/logindb/*.sql');
    sort($files);
    return $files;
}

/** A fresh login database as FluxCP's installer leaves it: every schema file run, every marker written. */
function p2p_reset_settings()
{
    $pdo = p2p_pdo();
    $pdo->exec('DROP TABLE IF EXISTS p2p_monitor_settings');
    p2p_clear_markers();
    p2p_installer()->updateAll(new StubConnection($pdo), p2p_env('P2PMON_MYSQL_DB'));
}

function p2p_marker_dir()
{
    return FLUX_DATA_DIR . '/logs/schemas/logindb/' . p2p_server()->loginAthenaGroup->serverName;
}

function p2p_clear_markers()
{
    foreach (glob(p2p_marker_dir() . '/*.txt') ?: array() as $marker) {
        unlink($marker);
    }
}

function p2p_installer()
{
    return new StubInstaller(FLUX_ROOT . '/schemas/logindb', p2p_marker_dir());
}

/** FluxCP: lib/Flux/Athena.php as $server: the connection, the login database's name, the login server group. */
function p2p_server()
{
    $server = new stdClass();
    $server->connection = new StubConnection(p2p_pdo());
    $server->loginDatabase = p2p_env('P2PMON_MYSQL_DB');
    $server->loginAthenaGroup = new stdClass();
    $server->loginAthenaGroup->serverName = 'FluxRO';
    return $server;
}

/** FluxCP's application.php with the addon's config/addon.php merged in (lib/Flux.php: initializeAddons). */
function p2p_configure($api = null, $token = null, array $extra = array())
{
    $addon = require FLUX_ROOT . '/config/addon.php';
    $addon['P2PMonitor'] = array_merge($addon['P2PMonitor'], array(
        'coordinator_api' => $api !== null ? $api : p2p_env('P2PMON_API'),
        'api_token' => $token !== null ? $token : p2p_env('P2PMON_TOKEN'),
        'websocket_url' => p2p_env('P2PMON_WS'),
        'timeout' => 3,
    ), $extra);
    Flux::$config = new StubConfig(array_merge(array('AdminMenuGroupLevel' => AccountLevel::LOWGM), $addon));
}

/**
 * Render `$action` as FluxCP would for `$user` (null: nobody logged in) at
 * `$level`, with `$get` and (for a POST) `$post`; with FluxCP's menus and
 * footer when `$chrome`.
 */
function p2p_page($action, array $get = array(), array $post = null, $user = 'admin', $level = AccountLevel::ADMIN, $chrome = false)
{
    $_POST = $post === null ? array() : $post;
    $_SERVER['REQUEST_METHOD'] = $post === null ? 'GET' : 'POST';
    $params = new StubParams(array_merge(array('module' => 'p2p', 'action' => $action), $get, $_POST));
    $server = p2p_server();
    $session = new StubSession($user, $level, $server->loginAthenaGroup);
    $access = require FLUX_ROOT . '/config/access.php';
    $template = new StubTemplate(new StubAuthorization($access, $session));
    // FluxCP refuses an action the user's level does not reach before its controller runs.
    if (!(new StubAuthorization($access, $session))->actionAllowed('p2p', $action)) {
        return 'permission denied';
    }
    return $template->render($action, $params, $server, $session, $chrome);
}
