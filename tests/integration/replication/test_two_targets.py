"""One group replicated to two DR sites (UC3a x UC9): the policy service ticks the extra target as
a leg of its own (group id ``<group>:<site>``); the replicator keeps one chain of CPs per id, so
each site gets verified, byte-identical CPs and, after more writes, only what changed since that
site's own previous CP. Real cloudsim sites and receiver processes, on the embedded default."""

from __future__ import annotations

from pathlib import Path

from lifeboat_shared.contracts.messages import SiteRef
from tests.integration.replication.harness import SOURCE, TARGET, make_vm, protection, write_random
from tests.integration.replication.test_protection import check_cp, gid

C = "site-c"
MIB = 1024 * 1024


async def test_one_group_replicates_to_two_sites_as_two_legs(tmp_path: Path) -> None:
    async with protection(tmp_path, extra_sites=[C]) as p:
        server, (vol,) = await make_vm(p.source, "two", 1, size_gb=1)
        with p.admin() as a:
            path = a.get(f"/volumes/{vol}").json()["path"]
        write_random(path, 4)
        group = gid()
        leg = f"{group}:{C}"
        to_b = p.spec(servers=[server])
        to_c = to_b.model_copy(
            update={"target": SiteRef(site_id=C, cloud=C, data_endpoint=p.receivers[C])}
        )
        await p.tick(group, to_b)
        await p.tick(leg, to_c)
        (cp_b,) = await p.wait_cps(group, 1, timeout=90)
        (cp_c,) = await p.wait_cps(leg, 1, timeout=90)
        assert (cp_b["source_site"], cp_b["target_site"]) == (SOURCE, TARGET)
        assert (cp_c["source_site"], cp_c["target_site"]) == (SOURCE, C)
        assert not check_cp(p, cp_b)["violations"] and not check_cp(p, cp_c, C)["violations"]
        # 1 MiB more: each leg sends what changed since its own previous CP, not a full copy.
        write_random(path, 1, offset_mib=8)
        await p.tick(group, to_b)
        await p.tick(leg, to_c)
        second_b = (await p.wait_cps(group, 2, timeout=90))[-1]
        second_c = (await p.wait_cps(leg, 2, timeout=90))[-1]
        for cp, site in ((second_b, TARGET), (second_c, C)):
            changed = sum(m["bytes_changed"] for m in cp["members"])
            assert MIB <= changed <= 2 * MIB, (site, changed)
            assert not check_cp(p, cp, site)["violations"]
