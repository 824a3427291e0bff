-- Joomla 5.2.2: the database changes of the update, applied once by the release.
-- The component com_otapoldlinks left the core: its administrator menu item and its extension row go.
DELETE FROM `#__menu` WHERE `link` = 'index.php?option=com_otapoldlinks' AND `client_id` = 1;
DELETE FROM `#__extensions` WHERE `element` = 'com_otapoldlinks' AND `type` = 'component';
-- What Joomla records of its own version and of the last update script it ran.
UPDATE `#__extensions` SET `manifest_cache` = '{"version":"5.2.2"}' WHERE `element` IN ('joomla', 'com_content');
UPDATE `#__schemas` SET `version_id` = '5.2.2-2026-11-20' WHERE `extension_id` = 211;
