-- Articles get a short badge shown above their title.
ALTER TABLE `#__content` ADD COLUMN `otap_badge` VARCHAR(40) NOT NULL DEFAULT '' AFTER `alias`;
