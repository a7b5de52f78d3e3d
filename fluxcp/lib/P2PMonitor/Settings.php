<?php
if (!defined('FLUX_ROOT')) exit;

/**
 * The p2p_monitor_settings table (schemas/logindb/), which the aggregator
 * reads every few seconds (settings.url in its aggregator.yml). Values are
 * checked here the way the aggregator parses them, so an admin sees what is
 * wrong before saving; a save with any bad value stores nothing.
 *
 * $connection is FluxCP's login-server connection (anything whose
 * getStatement($sql) returns a statement with execute() and fetchAll()).
 */
class P2PMonitor_Settings
{
    const NAMES = array('alert_thresholds', 'notification_emails', 'discord_webhook', 'monitoring_interval');

    private $connection;
    private $table;

    public function __construct($connection, $table = 'p2p_monitor_settings')
    {
        if (!preg_match('/^[A-Za-z0-9_]{1,64}$/', $table)) {
            throw new InvalidArgumentException('not a table name: ' . $table);
        }
        $this->connection = $connection;
        $this->table = $table;
    }

    /** name => value of every row. */
    public function all()
    {
        $statement = $this->connection->getStatement("SELECT setting_name, setting_value FROM `{$this->table}`");
        $statement->execute(array());
        $values = array();
        foreach ($statement->fetchAll() as $row) {
            $row = (array) $row;
            $values[$row['setting_name']] = $row['setting_value'];
        }
        return $values;
    }

    /**
     * Check and store `$values` (name => text). Returns name => error for
     * each bad value; when there is any, nothing is stored.
     */
    public function save(array $values)
    {
        $errors = array();
        $clean = array();
        foreach (self::NAMES as $name) {
            if (!array_key_exists($name, $values)) {
                continue;
            }
            $error = self::check($name, trim((string) $values[$name]), $normalized);
            if ($error !== null) {
                $errors[$name] = $error;
            } else {
                $clean[$name] = $normalized;
            }
        }
        if ($errors) {
            return $errors;
        }
        $statement = $this->connection->getStatement(
            "INSERT INTO `{$this->table}` (setting_name, setting_value) VALUES (?, ?) "
            . 'ON DUPLICATE KEY UPDATE setting_value = VALUES(setting_value)'
        );
        foreach ($clean as $name => $value) {
            $statement->execute(array($name, $value));
        }
        return array();
    }

    /** The error in `$value` for setting `$name`, or null; `$normalized` gets the text to store. */
    public static function check($name, $value, &$normalized = null)
    {
        $normalized = $value;
        switch ($name) {
            case 'alert_thresholds':
                $json = json_decode($value, true);
                if (!is_array($json) || ($json && array_keys($json) === range(0, count($json) - 1))) {
                    return 'Give a JSON object, e.g. {"cpu":90,"memory":85,"latency":200}.';
                }
                foreach ($json as $key => $limit) {
                    if (!preg_match('/^[a-z][a-z0-9_.]*$/', (string) $key)) {
                        return sprintf('"%s" is not a metric name.', $key);
                    }
                    $levels = is_array($limit) ? $limit : array('critical' => $limit);
                    foreach ($levels as $level => $number) {
                        if (!in_array($level, array('warning', 'critical'), true) || !is_numeric($number)
                            || is_string($number) || !is_finite((float) $number)) {
                            return sprintf('%s: give a number, or {"warning": n, "critical": n}.', $key);
                        }
                    }
                }
                $normalized = json_encode($json);
                return null;
            case 'notification_emails':
                $emails = json_decode($value, true);
                if (!is_array($emails) || ($emails && array_keys($emails) !== range(0, count($emails) - 1))) {
                    return 'Give a JSON list of addresses, e.g. ["admin@yourserver.com"].';
                }
                foreach ($emails as $email) {
                    if (!is_string($email) || filter_var($email, FILTER_VALIDATE_EMAIL) === false) {
                        return sprintf('"%s" is not an email address.', is_string($email) ? $email : json_encode($email));
                    }
                }
                $normalized = json_encode(array_values($emails));
                return null;
            case 'discord_webhook':
                $scheme = strtolower((string) parse_url($value, PHP_URL_SCHEME));
                if (!in_array($scheme, array('http', 'https'), true) || !parse_url($value, PHP_URL_HOST)) {
                    return 'Give an http(s) URL.';
                }
                return null;
            case 'monitoring_interval':
                if (!preg_match('/^[0-9]{1,7}$/', $value) || (int) $value < 100 || (int) $value > 3600000) {
                    return 'Give milliseconds between 100 and 3600000.';
                }
                $normalized = (string) (int) $value;
                return null;
        }
        return 'Unknown setting.';
    }
}
