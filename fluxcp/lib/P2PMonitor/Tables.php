<?php
if (!defined('FLUX_ROOT')) exit;

/**
 * The tables the addon shows as the built-in dashboard does, from the one
 * definition both read (tables.json beside this file: columns, their order,
 * headers, API fields, formats, the metric the feed updates a cell with).
 * Headers go through lang/ (P2PCol<Key>); en_us.php takes them from here.
 */
class P2PMonitor_Tables
{
    private static $tables = null;

    /** tables.json, read once per request. */
    public static function all()
    {
        if (self::$tables === null) {
            $file = __DIR__ . '/tables.json';
            $tables = json_decode((string) @file_get_contents($file), true);
            if (!is_array($tables)) {
                throw new LogicException("$file is missing or is not JSON");
            }
            self::$tables = $tables;
        }
        return self::$tables;
    }

    public static function table($name)
    {
        $tables = self::all();
        if (!isset($tables[$name]['columns'])) {
            throw new LogicException("tables.json has no table $name");
        }
        return $tables[$name];
    }

    public static function columns($name)
    {
        $table = self::table($name);
        return $table['columns'];
    }

    /** The lang/ key of a column's header: last_report -> P2PColLastReport. */
    public static function labelKey(array $column)
    {
        return 'P2PCol' . str_replace(' ', '', ucwords(str_replace('_', ' ', $column['key'])));
    }

    /**
     * The player_history table's rows from the API's 30-day and 1-year answers (/api/v1/players/history), by
     * 30-day peak, highest first; the dashboard builds the same rows (web/src/pages/maps.js).
     */
    public static function playerHistory(array $month, array $year)
    {
        $rows = array();
        foreach ($year['maps'] as $map => $trend) {
            $recent = isset($month['maps'][$map]) ? $month['maps'][$map] : null;
            $rows[] = array(
                'map' => $map,
                'peak_30d' => $recent ? $recent['peak'] : null,
                'average_30d' => $recent ? $recent['average'] : null,
                'peak_1y' => $trend['peak'],
                'average_1y' => $trend['average'],
                'week_change' => $trend['week_change_percent'],
            );
        }
        usort($rows, function ($a, $b) {
            return ((float) $b['peak_30d'] <=> (float) $a['peak_30d']) ?: strcmp($a['map'], $b['map']);
        });
        return $rows;
    }

    /** The English texts lang/en_us.php takes from tables.json: column headers and sort names. */
    public static function englishTexts()
    {
        $texts = array();
        foreach (self::all() as $table) {
            if (!is_array($table) || !isset($table['columns'])) {
                continue;
            }
            foreach ($table['columns'] as $column) {
                $key = self::labelKey($column);
                if (isset($texts[$key]) && $texts[$key] !== $column['label']) {
                    throw new LogicException("tables.json: column {$column['key']} has two headers");
                }
                if ($column['label'] !== '') {
                    $texts[$key] = $column['label'];
                }
            }
            foreach (isset($table['sorts']) ? $table['sorts'] : array() as $sort) {
                $texts['P2PSort_' . $sort['key']] = $sort['label'];
            }
        }
        return $texts;
    }

    /** The header cells of table `$name`, in the user's language. */
    public static function headers($name)
    {
        $html = '';
        foreach (self::columns($name) as $column) {
            $html .= '<th>' . ($column['label'] === '' ? '' : P2PMonitor_View::t(self::labelKey($column))) . '</th>';
        }
        return $html;
    }

    /**
     * The cells of `$record` in table `$name`. `$custom` renders the formats
     * only the calling view knows (format => function ($record): HTML, escaped
     * by it). A cell the feed updates carries data-p2p-metric and -unit.
     */
    public static function cells($name, array $record, array $custom = array())
    {
        $html = '';
        foreach (self::columns($name) as $column) {
            $format = $column['format'];
            $value = isset($record[$column['field']]) ? $record[$column['field']] : null;
            $content = isset($custom[$format]) ? $custom[$format]($record) : self::format($format, $value);
            $live = '';
            if (!empty($column['live'])) {
                $live = ' data-p2p-metric="' . P2PMonitor_View::h($column['live']) . '" data-p2p-unit="'
                    . P2PMonitor_View::h(self::unit($format)) . '"';
            }
            $html .= '<td class="p2p-' . P2PMonitor_View::h($column['key']) . '"' . $live . '>' . $content . '</td>';
        }
        return $html;
    }

    /** `$value` in `$format`, escaped. */
    public static function format($format, $value)
    {
        switch ($format) {
            case 'text':
            case 'badge':
                return P2PMonitor_View::h($value);
            case 'upper':
                return P2PMonitor_View::h(strtoupper((string) $value));
            case 'integer':
                return P2PMonitor_View::number($value, 0);
            case 'number2':
                return P2PMonitor_View::number($value, 2);
            case 'percent':
                return P2PMonitor_View::percent($value);
            case 'ms':
                return $value === null ? '–' : P2PMonitor_View::number($value) . ' ms';
            case 'list':
                return P2PMonitor_View::h(implode(', ', (array) $value));
            case 'ago':
                return P2PMonitor_View::h(P2PMonitor_View::ago($value));
            case 'problem_count':
                return $value ? '<strong class="red">' . (int) $value . '</strong>' : '0';
            case 'served':
                return $value === null ? P2PMonitor_View::t('P2PUnknown')
                    : ($value ? P2PMonitor_View::t('P2PYes') : '<strong class="red">' . P2PMonitor_View::t('P2PNo') . '</strong>');
            case 'rate':
                return $value === null ? '–' : P2PMonitor_View::number($value / 1024) . ' KiB/s';
            case 'per_second':
                return $value === null ? '–' : P2PMonitor_View::number($value, 2) . ' /s';
            case 'when':
                return P2PMonitor_View::h(P2PMonitor_View::when($value));
            case 'resolved':
                return $value ? P2PMonitor_View::h(P2PMonitor_View::ago($value)) : '–';
            case 'any':
                return $value === null ? P2PMonitor_View::t('P2PAny') : P2PMonitor_View::h($value);
            case 'seconds':
                return P2PMonitor_View::t('P2PSeconds', (int) $value);
            case 'yes_no':
                return P2PMonitor_View::t($value ? 'P2PYes' : 'P2PNo');
        }
        throw new LogicException("tables.json: format $format needs a renderer from the view");
    }

    /** What the live client appends to a value of `$format` (it shows one decimal, as percent() does). */
    private static function unit($format)
    {
        return $format === 'percent' ? ' %' : ($format === 'ms' ? ' ms' : '');
    }
}
