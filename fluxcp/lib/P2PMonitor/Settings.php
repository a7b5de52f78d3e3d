<?php
if (!defined('FLUX_ROOT')) exit;

/**
 * The p2p_monitor_settings table (schemas/logindb/, in the login database),
 * which the aggregator reads every few seconds (settings.url in its
 * aggregator.yml). Values are checked here the way the aggregator parses
 * them, so an admin sees what is wrong before saving; a save with any bad
 * value stores nothing.
 *
 * $connection is FluxCP's Flux_Connection: getStatement($sql) gives a
 * statement whose rows are Flux_DataObject (read with ->name; they have no
 * array keys and no __isset), whose execute() returns false or, on PHP 8,
 * throws a PDOException when the SQL fails.
 */
class P2PMonitor_Settings
{
    const NAMES = array('alert_thresholds', 'notification_emails', 'discord_webhook', 'monitoring_interval');

    private $connection;
    private $table;

    /** `$database`: the login database ($server->loginDatabase), as FluxCP's own modules name their tables. */
    public function __construct($connection, $database = null, $table = 'p2p_monitor_settings')
    {
        if (!preg_match('/^[A-Za-z0-9_]{1,64}$/', $table)) {
            throw new InvalidArgumentException('not a table name: ' . $table);
        }
        if ($database !== null && $database !== '' && !preg_match('/^[A-Za-z0-9_$]{1,64}$/', $database)) {
            throw new InvalidArgumentException('not a database name: ' . $database);
        }
        $this->connection = $connection;
        $this->table = ($database !== null && $database !== '' ? "`$database`." : '') . "`$table`";
    }

    /** name => array(value, updated_by, updated_at) of every row. */
    public function rows()
    {
        $statement = $this->run(
            "SELECT setting_name, setting_value, updated_by, updated_at FROM {$this->table}",
            array()
        );
        $rows = array();
        foreach ($statement->fetchAll() as $row) {
            $rows[(string) $row->setting_name] = array(
                'value' => (string) $row->setting_value,
                'updated_by' => $row->updated_by,
                'updated_at' => $row->updated_at,
            );
        }
        return $rows;
    }

    /** name => value of every row. */
    public function all()
    {
        return array_map(function ($row) {
            return $row['value'];
        }, $this->rows());
    }

    /**
     * The names whose posted text differs from what is stored: a form sends
     * all four, and only what the user changed is checked and written, so a
     * value nobody touched stays exactly as stored.
     */
    public function changed(array $posted)
    {
        $stored = $this->all();
        $changed = array();
        foreach (self::NAMES as $name) {
            if (!array_key_exists($name, $posted) || $posted[$name] === null) {
                continue;
            }
            $given = trim((string) $posted[$name]);
            if (!array_key_exists($name, $stored) || $given !== trim($stored[$name])) {
                $changed[$name] = $given;
            }
        }
        return $changed;
    }

    /**
     * Check and store `$values` (name => text) as changed by `$author`.
     * Returns name => error for each bad value; when there is any, nothing
     * is stored.
     */
    public function save(array $values, $author)
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
        foreach ($clean as $name => $value) {
            $this->run(
                "INSERT INTO {$this->table} (setting_name, setting_value, updated_by) VALUES (?, ?, ?) "
                . 'ON DUPLICATE KEY UPDATE setting_value = VALUES(setting_value), updated_by = VALUES(updated_by)',
                array($name, $value, substr((string) $author, 0, 64))
            );
        }
        return array();
    }

    /** Prepare and run `$sql`; a failure of either becomes P2PMonitor_Error::DATABASE naming the table. */
    private function run($sql, array $bind)
    {
        try {
            $statement = $this->connection->getStatement($sql);
            if ($statement && $statement->execute($bind) !== false) {
                return $statement;
            }
            $why = $statement ? implode(' ', array_filter((array) $statement->errorInfo())) : 'prepare failed';
        } catch (PDOException $exception) {
            $why = $exception->getMessage();
        }
        throw new P2PMonitor_Error(P2PMonitor_Error::DATABASE, $this->table . ': ' . $why);
    }

    /** The error in `$value` for setting `$name`, or null; `$normalized` gets the text to store. */
    public static function check($name, $value, &$normalized = null)
    {
        $normalized = $value;
        switch ($name) {
            case 'alert_thresholds':
                $json = json_decode($value, true);
                if (!is_array($json) || ($json && array_keys($json) === range(0, count($json) - 1))) {
                    return P2PMonitor_View::text('P2PBadThresholds');
                }
                foreach ($json as $key => $limit) {
                    if (!preg_match('/^[a-z][a-z0-9_.]*$/', (string) $key)) {
                        return P2PMonitor_View::text('P2PBadMetricName', $key);
                    }
                    $levels = is_array($limit) ? $limit : array('critical' => $limit);
                    foreach ($levels as $level => $number) {
                        if (!in_array($level, array('warning', 'critical'), true) || !is_numeric($number)
                            || is_string($number) || !is_finite((float) $number)) {
                            return P2PMonitor_View::text('P2PBadThreshold', $key);
                        }
                    }
                }
                $normalized = json_encode($json);
                return null;
            case 'notification_emails':
                $emails = json_decode($value, true);
                if (!is_array($emails) || ($emails && array_keys($emails) !== range(0, count($emails) - 1))) {
                    return P2PMonitor_View::text('P2PBadEmails');
                }
                foreach ($emails as $email) {
                    if (!is_string($email) || filter_var($email, FILTER_VALIDATE_EMAIL) === false) {
                        return P2PMonitor_View::text('P2PBadEmail', is_string($email) ? $email : json_encode($email));
                    }
                }
                $normalized = json_encode(array_values($emails));
                return null;
            case 'discord_webhook':
                $scheme = strtolower((string) parse_url($value, PHP_URL_SCHEME));
                if (!in_array($scheme, array('http', 'https'), true) || !parse_url($value, PHP_URL_HOST)) {
                    return P2PMonitor_View::text('P2PBadWebhook');
                }
                return null;
            case 'monitoring_interval':
                if (!preg_match('/^[0-9]{1,7}$/', $value) || (int) $value < 100 || (int) $value > 3600000) {
                    return P2PMonitor_View::text('P2PBadInterval');
                }
                $normalized = (string) (int) $value;
                return null;
        }
        return P2PMonitor_View::text('P2PUnknownSetting');
    }
}
