<?php
if (!defined('FLUX_ROOT')) exit;

// Who sees the monitoring pages: high GMs and admins; only admins change settings; anyone the server status.
return array(
    'modules' => array(
        'p2p' => array(
            'monitoring' => AccountLevel::HIGHGM,
            'hosts'      => AccountLevel::HIGHGM,
            'host'       => AccountLevel::HIGHGM,
            'maps'       => AccountLevel::HIGHGM,
            'network'    => AccountLevel::HIGHGM,
            'alerts'     => AccountLevel::HIGHGM,
            'settings'   => AccountLevel::ADMIN,
            'setup'      => AccountLevel::ADMIN,
            'ticket'     => AccountLevel::HIGHGM, // the pages' live client asks it for feed tickets
            'status'     => AccountLevel::ANYONE, // the players' server status
        ),
    ),
);
