<?php
if (!defined('FLUX_ROOT')) exit;

/** A CSRF token per PHP session, which every form of the addon carries. */
class P2PMonitor_Csrf
{
    const KEY = 'p2pmon_csrf';

    public static function token()
    {
        if (session_status() !== PHP_SESSION_ACTIVE && !headers_sent()) {
            session_start();
        }
        if (empty($_SESSION[self::KEY])) {
            $_SESSION[self::KEY] = bin2hex(random_bytes(32));
        }
        return $_SESSION[self::KEY];
    }

    public static function valid($given)
    {
        return is_string($given) && $given !== '' && !empty($_SESSION[self::KEY])
            && hash_equals($_SESSION[self::KEY], $given);
    }
}
