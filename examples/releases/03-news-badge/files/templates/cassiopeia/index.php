<?php
/**
 * The site template of the test site. Variables: $config, $articles, $version.
 */

\defined('_JEXEC') or die;
?>
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="generator" content="<?= otap_escape(Joomla\CMS\Version::PRODUCT . ' ' . $version->getShortVersion()) ?>">
  <meta name="otap-release" content="<?= otap_escape(otap_release()) ?>">
  <meta name="otap-template" content="cassiopeia">
  <title><?= otap_escape($config->sitename) ?></title>
  <link rel="canonical" href="<?= otap_escape($config->live_site) ?>/">
  <link rel="stylesheet" href="templates/cassiopeia/css/template.css">
</head>
<body>
  <header><h1><?= otap_escape($config->sitename) ?></h1></header>
  <main>
<?php foreach ($articles as $article) : ?>
    <article id="article-<?= (int) $article['id'] ?>">
<?php if ($article['otap_badge'] !== '') : ?>
      <span class="badge"><?= otap_escape($article['otap_badge']) ?></span>
<?php endif; ?>
      <h2><?= otap_escape($article['title']) ?></h2>
      <p class="category"><?= otap_escape($article['category']) ?></p>
      <div class="intro"><?= $article['introtext'] ?></div>
    </article>
<?php endforeach; ?>
  </main>
  <footer>
    <p class="contact">Switchboard 030 555 0100 - Emergencies: call 112</p>
    <p>Release <?= otap_escape(otap_release()) ?></p>
  </footer>
  <script src="media/portal/js/legacy-menu.js"></script>
</body>
</html>
