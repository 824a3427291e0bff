<?php
/**
 * Version information, shaped like Joomla's libraries/src/Version.php.
 * Part of the otap.street test site (not Joomla code).
 */

namespace Joomla\CMS;

\defined('_JEXEC') or die;

final class Version
{
    public const PRODUCT = 'Joomla!';
    public const MAJOR_VERSION = 5;
    public const MINOR_VERSION = 2;
    public const PATCH_VERSION = 2;
    public const EXTRA_VERSION = '';
    public const DEV_STATUS = 'Stable';
    public const CODENAME = 'Otap';
    public const RELDATE = '20-November-2026';
    public const RELTIME = '12:00';
    public const RELTZ = 'GMT';

    public function getShortVersion(): string
    {
        return self::MAJOR_VERSION . '.' . self::MINOR_VERSION . '.' . self::PATCH_VERSION
            . (self::EXTRA_VERSION !== '' ? '-' . self::EXTRA_VERSION : '');
    }
}
