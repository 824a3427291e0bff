UPDATE `#__content` SET `otap_badge` = 'New' WHERE `alias` = 'new-outpatient-clinic';
