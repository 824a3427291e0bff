"""The sync key's forced command (roles/sync/files/otap_sync_receive.py): Production may load a
dump into a staging database and write with rsync into the sync's folders, nothing else."""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[3] / "roles" / "sync" / "files" / "otap_sync_receive.py"
spec = importlib.util.spec_from_file_location("otap_sync_receive", PATH)
receive = importlib.util.module_from_spec(spec)
spec.loader.exec_module(receive)

CONFIG = {"databases": ["portal_sync"], "folders": ["/var/www/portal/releases", "/var/www/portal/shared/images"]}


def test_a_dump_loads_into_the_staging_database():
    assert receive.command_for("load portal_sync", CONFIG) == ["mysql", "--database", "portal_sync"]


@pytest.mark.parametrize("request_", ["load portal", "load mysql", "load portal_sync; rm -rf /", "load"])
def test_no_other_database_is_loaded(request_):
    with pytest.raises(receive.Refused):
        receive.command_for(request_, CONFIG)


def test_an_rsync_receiver_writes_into_the_uploads():
    request = "rsync --server -logDtpre.iLsfxCIvu --delete --delay-updates . /var/www/portal/shared/images/"
    assert receive.command_for(request, CONFIG) == request.split()


@pytest.mark.parametrize("link_dest", ["--link-dest /var/www/portal/releases/3", "--link-dest=/var/www/portal/releases/3"])
def test_a_code_tree_may_share_files_with_the_live_one(link_dest):
    # As rsync 3.5.0 sends it to the receiver (the option and its folder as two words).
    request = (f"rsync --server -logprce.iLsfxCIvu --delete-excluded --stats --delay-updates --numeric-ids {link_dest}"
               " . /var/www/portal/releases/4/")
    assert receive.command_for(request, CONFIG) == request.split()


@pytest.mark.parametrize("request_", [
    "rsync --server --sender -logDtpre.iLsfxCIvu . /var/www/portal/shared/images/",
    "rsync --server -logDtpre.iLsfxCIvu . /var/www/portal/shared/configuration.php",
    "rsync --server -logDtpre.iLsfxCIvu . /var/www/portal/shared/images/../configuration.php",
    "rsync --server -logDtpre.iLsfxCIvu . /root/.ssh/",
    "rsync --server --log-file=/etc/passwd -logDtpre.iLsfxCIvu . /var/www/portal/shared/images/",
    "rsync --server --link-dest=/etc -logDtpre.iLsfxCIvu . /var/www/portal/releases/5/",
    "rsync --server --link-dest /etc -logDtpre.iLsfxCIvu . /var/www/portal/releases/5/",
    "rsync --server --link-dest . /var/www/portal/releases/5/",
    "rsync --server -logDtpre.iLsfxCIvu /var/www/portal/shared/images/",
    "bash -c id",
    "",
    "load 'unterminated",
])
def test_anything_else_is_refused(request_):
    with pytest.raises(receive.Refused):
        receive.command_for(request_, CONFIG)
