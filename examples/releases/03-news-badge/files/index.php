<?php
/**
 * Front end of the otap.street test site: renders the published articles in the current
 * template, and a 503 maintenance page while the site is offline, as Joomla does.
 */

define('_JEXEC', 1);
define('JPATH_BASE', __DIR__);
define('JPATH_CONFIGURATION', JPATH_BASE);
define('JPATH_LIBRARIES', JPATH_BASE . '/libraries');

require_once JPATH_BASE . '/includes/framework.php';

$config = new JConfig();

if ($config->offline) {
    http_response_code(503);
    header('Retry-After: 30');
    header('Content-Type: text/html; charset=utf-8');
    echo '<!DOCTYPE html><html><head><title>' . otap_escape($config->sitename) . ' - offline</title></head>'
        . '<body><h1>' . otap_escape($config->sitename) . '</h1><p>'
        . otap_escape($config->offline_message) . '</p></body></html>';
    exit;
}

$db = otap_db($config);
$prefix = $config->dbprefix;
try {
    $template = $db->query(
        "SELECT template FROM {$prefix}template_styles WHERE client_id = 0 AND home = '1' LIMIT 1"
    )->fetch_column() ?: 'cassiopeia';
    $articles = $db->query(
        "SELECT a.id, a.title, a.alias, a.introtext, a.created, a.otap_badge, c.title AS category
           FROM {$prefix}content AS a JOIN {$prefix}categories AS c ON c.id = a.catid
          WHERE a.state = 1 AND c.published = 1
          ORDER BY a.ordering, a.id"
    )->fetch_all(MYSQLI_ASSOC);
} catch (mysqli_sql_exception $e) {
    error_log('otap test site: query failed: ' . $e->getMessage());
    otap_fail(500, 'Error: the site could not read its content.');
}

$templateFile = JPATH_BASE . '/templates/' . basename($template) . '/index.php';
if (!is_file($templateFile)) {
    otap_fail(500, 'Error: template ' . $template . ' is not installed.');
}
$version = new Joomla\CMS\Version();
header('Content-Type: text/html; charset=utf-8');
require $templateFile;
