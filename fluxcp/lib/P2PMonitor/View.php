<?php
if (!defined('FLUX_ROOT')) exit;

/** Formatting for the addon's views. Every value goes through h() on its way out. */
class P2PMonitor_View
{
    public static function h($value)
    {
        return htmlspecialchars((string) $value, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
    }

    /**
     * The text of lang/ key `$key` (FluxCP's Flux::message: the user's
     * language over en_us), sprintf'd with `$args`, escaped.
     */
    public static function t($key, ...$args)
    {
        return self::h(self::text($key, ...$args));
    }

    /** As t(), not escaped (for attributes built elsewhere and for tests). */
    public static function text($key, ...$args)
    {
        $text = (string) Flux::message($key);
        return $args ? vsprintf($text, $args) : $text;
    }

    /** What a page says about `$error`: a P2PMonitor_Error by its kind, or a text as it is. */
    public static function error($error)
    {
        if (!$error instanceof P2PMonitor_Error) {
            return self::h($error);
        }
        $keys = array(
            P2PMonitor_Error::UNREACHABLE => 'P2PErrorUnreachable',
            P2PMonitor_Error::TOKEN => 'P2PErrorToken',
            P2PMonitor_Error::REFUSED => 'P2PErrorRefused',
            P2PMonitor_Error::NOT_FOUND => 'P2PErrorNotFound',
            P2PMonitor_Error::INVALID => 'P2PErrorInvalid',
            P2PMonitor_Error::CONFIG => 'P2PErrorConfig',
            P2PMonitor_Error::DATABASE => 'P2PErrorDatabase',
        );
        $key = isset($keys[$error->kind]) ? $keys[$error->kind] : 'P2PErrorInvalid';
        $detail = $error->getMessage();
        return self::t($key) . ($detail !== '' ? ' ' . self::h($detail) : '');
    }

    public static function number($value, $digits = 1)
    {
        return $value === null ? '–' : number_format((float) $value, $digits);
    }

    public static function percent($value)
    {
        return $value === null ? '–' : number_format((float) $value, 1) . ' %';
    }

    /** A share (0 to 1) as a percentage with two decimals; below 1, never rounded up to 100. */
    public static function share($value)
    {
        if ($value === null) {
            return '–';
        }
        return $value >= 1 ? '100 %' : number_format(min(99.99, (float) $value * 100), 2) . ' %';
    }

    /** The status page's colour class of a day (as the aggregator's own page: m maintenance, n no data). */
    public static function dayShade(array $day)
    {
        $uptime = $day['uptime'];
        if ($uptime === null) {
            return $day['maintenance_ms'] > 0 ? 'm' : 'n';
        }
        if ($uptime >= 0.999) {
            return $day['maintenance_ms'] > 0 ? 'm' : 'g';
        }
        return $uptime >= 0.99 ? 'y' : ($uptime >= 0.95 ? 'o' : 'r');
    }

    public static function ago($ms)
    {
        if (!$ms) {
            return self::text('P2PNever');
        }
        $seconds = max(0, (int) round(microtime(true) - $ms / 1000));
        if ($seconds < 60) {
            return self::text('P2PSecondsAgo', $seconds);
        }
        if ($seconds < 3600) {
            return self::text('P2PMinutesAgo', round($seconds / 60));
        }
        if ($seconds < 86400) {
            return self::text('P2PHoursAgo', round($seconds / 3600));
        }
        return self::text('P2PDaysAgo', round($seconds / 86400));
    }

    public static function when($ms)
    {
        return $ms ? gmdate('Y-m-d H:i:s', (int) ($ms / 1000)) . ' UTC' : '–';
    }

    /** JSON safe inside a <script> element. */
    public static function json($value)
    {
        return json_encode($value, JSON_HEX_TAG | JSON_HEX_AMP | JSON_HEX_APOS | JSON_HEX_QUOT);
    }
}
