<?php
if (!defined('FLUX_ROOT')) exit;

/** Formatting for the addon's views. Every value goes through h() on its way out. */
class P2PMonitor_View
{
    public static function h($value)
    {
        return htmlspecialchars((string) $value, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
    }

    public static function number($value, $digits = 1)
    {
        return $value === null ? '–' : number_format((float) $value, $digits);
    }

    public static function percent($value)
    {
        return $value === null ? '–' : number_format((float) $value, 1) . ' %';
    }

    public static function ago($ms)
    {
        if (!$ms) {
            return 'never';
        }
        $seconds = max(0, (int) round(microtime(true) - $ms / 1000));
        if ($seconds < 60) {
            return $seconds . ' s ago';
        }
        if ($seconds < 3600) {
            return round($seconds / 60) . ' min ago';
        }
        if ($seconds < 86400) {
            return round($seconds / 3600) . ' h ago';
        }
        return round($seconds / 86400) . ' d ago';
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
