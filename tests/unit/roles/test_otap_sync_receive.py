"""The sync key's forced command (roles/sync/files/otap_sync_receive.py): Production may load a
dump into a staging database (sandboxed client) and push files into the sync's inbox (rrsync,
write-only), nothing else."""

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[3] / "roles" / "sync" / "files" / "otap_sync_receive.py"
spec = importlib.util.spec_from_file_location("otap_sync_receive", PATH)
receive = importlib.util.module_from_spec(spec)
spec.loader.exec_module(receive)

CONFIG = {"databases": ["portal_sync"], "inbox": "/var/lib/otap-sync/inbox", "socket": "/run/mysqld/mysqld.sock"}


def test_a_dump_loads_into_the_staging_database_with_a_sandboxed_client():
    assert receive.command_for("load portal_sync", CONFIG) == [
        "mysql", "--no-defaults", "--sandbox", "--local-infile=0", "--batch", "--socket=/run/mysqld/mysqld.sock",
        "--database=portal_sync"]


@pytest.mark.parametrize("request_", ["load portal", "load mysql", "load portal_sync; rm -rf /", "load",
                                      "load 'portal_sync' --init-command=x", "load portal_sync\nrm -rf /"])
def test_no_other_database_is_loaded(request_):
    with pytest.raises(receive.Refused):
        receive.command_for(request_, CONFIG)


def test_an_rsync_receiver_goes_through_rrsync_write_only_into_the_inbox():
    request = "rsync --server -logDtpre.iLsfxCIvu --delete --delay-updates . uploads/images/"
    assert receive.command_for(request, CONFIG) == ["rrsync", "-wo", "-munge", "-no-lock", "/var/lib/otap-sync/inbox"]


@pytest.mark.parametrize("request_", [
    "rsync --server --sender -vlogDtpre.iLsfxCIvu . /etc/shadow",
    "rsync --server -vlogDtpre.iLsfxCIvu --sender . /var/www/portal/shared/configuration.php",
    "sh -c id", "id", "", "scp -t /tmp", "mysql portal", "rrsync -wo /", "/usr/bin/rsync --server . /",
    "sudo /usr/local/sbin/otap-sync-receive", "load portal_sync && id",
])
def test_everything_else_is_refused(request_):
    with pytest.raises(receive.Refused):
        receive.command_for(request_, CONFIG)
