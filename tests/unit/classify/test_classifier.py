"""The classifier: candidate selection, the strongest match wins, fields on the record."""

from __future__ import annotations

from sensor.classify import Classifier, PolicyConfig, SignaturesConfig, build_classifier
from sensor.classify.matchers import compile_clause
from sensor.classify.policy import SitePolicy
from sensor.classify.signatures import Signature
from tests.unit.classify.helpers import make_flow
from tests.unit.classify.test_policy import PROVISIONS


def sig(sid: int, clause: object, conf: float = 0.9, prov: str = "2503-15") -> Signature:
    return Signature(
        sid, 1, f"s{sid}", "m", "svc", prov, PROVISIONS[prov].category, conf,
        compile_clause(clause),
    )  # fmt: skip


def clf(*sigs: Signature) -> Classifier:
    return Classifier(list(sigs), SitePolicy(PolicyConfig(), PROVISIONS), "v1")


def test_gates_index_signatures_by_name_protocol_and_port() -> None:
    c = clf(
        sig(1, {"domain": ["example.net"]}),
        sig(2, {"field": "app_proto", "equals": ["ssh"]}),
        sig(3, {"port": [5938]}),
        sig(4, {"boundary": "outbound"}),
    )
    assert set(c.by_domain) == {"example.net"} and set(c.by_proto) == {"ssh"}
    assert set(c.by_port) == {5938} and [s.id for s in c.ungated] == [4]
    from tests.unit.classify.helpers import view

    v = view(make_flow(meta={"tls.sni": "a.example.net", "app_proto": "tls"}))
    assert sorted(s.id for s in c.candidates(v)) == [1, 4]


def test_the_strongest_match_wins_then_the_more_specific() -> None:
    weak = sig(10, {"port": [443]}, conf=0.5)
    strong = sig(11, {"domain": ["chatgpt.com"]}, conf=0.95, prov="2503-ai")
    both = sig(12, {"all": [{"port": [443]}, {"domain": ["chatgpt.com"]}]}, conf=0.95)
    flow = make_flow(meta={"tls.sni": "chatgpt.com"})
    assert clf(weak, strong).classify(flow).signature.id == 11  # type: ignore[union-attr]
    assert clf(strong, both).classify(flow).signature.id == 12  # type: ignore[union-attr]


def test_a_name_from_dns_lowers_confidence() -> None:
    c = clf(sig(1, {"domain": ["chatgpt.com"]}, conf=0.95, prov="2503-ai"))
    v = c.classify(make_flow(meta={"server_name": "chatgpt.com", "server_name_source": "dns"}))
    assert v is not None and v.confidence == 0.76


def test_apply_writes_the_record_fields_and_none_without_a_match() -> None:
    c = build_classifier(SignaturesConfig(), PolicyConfig())
    f = make_flow(meta={"tls.sni": "claude.ai", "app_proto": "tls"})
    v = c.apply(f)
    assert v is not None
    m = f.meta
    assert (m["policy.category"], m["policy.provision"], m["policy.action"]) == (
        "ai",
        "2503-ai",
        "violation",
    )
    assert m["policy.signature_id"] == 1030 and m["policy.service"] == "claude"
    assert m["policy.evidence"] == "tls.sni=claude.ai"
    assert c.matched[("ai", "2503-ai", "violation")] == 1
    plain = make_flow(meta={"tls.sni": "www.example.org", "app_proto": "tls"})
    assert c.apply(plain) is None and plain.meta["policy.action"] == "none"
    assert "policy.category" not in plain.meta


def test_requires_combines_all_any_not_and_knows_empty_site_lists() -> None:
    from sensor.classify.matchers.base import ANYTHING, NEVER
    from sensor.classify.view import Networks

    nets = Networks()
    need = compile_clause(
        {
            "all": [
                {"field": "transport", "equals": ["tcp"]},
                {"any": [{"field": "http.uri", "regex": "x"}, {"payload": {"content": "ab"}}]},
                {"not": {"field": "tls.sni", "equals": ["a"]}},
            ]
        }
    ).requires(nets)
    assert need == {
        frozenset({"http.uri"}),
        frozenset({"_head.toserver"}),
        frozenset({"_head.toclient"}),
    }
    both = compile_clause(
        [{"field": "ssh.client_banner", "regex": "x"}, {"field": "app_proto", "equals": ["ssh"]}]
    )
    assert both.requires(nets) == {frozenset({"ssh.client_banner", "app_proto"})}
    assert compile_clause({"boundary": "to_workstation"}).requires(nets) == NEVER
    assert compile_clause({"unlisted": "dhcp_servers"}).requires(nets) == NEVER
    assert compile_clause({"boundary": ["to_workstation", "outbound"]}).requires(nets) == ANYTHING
    site = Networks(workstations=("10.0.0.0/8",))
    assert compile_clause({"boundary": "to_workstation"}).requires(site) == ANYTHING


def test_bare_possible_is_false_when_every_candidate_needs_a_field() -> None:
    c = clf(
        sig(1, [{"field": "transport", "equals": ["udp"]}, {"payload": {"regex": "^.{17}"}}]),
        sig(2, [{"port": [5938]}, {"field": "app_proto", "equals": ["teamviewer"]}]),
        sig(3, [{"field": "transport", "equals": ["tcp"]}, {"boundary": "to_workstation"}]),
        sig(4, {"port": [4444]}),
    )
    assert not c.bare_possible((5938, 4, -1, 6, 6))  # 2 needs app_proto, 3 workstations
    assert not c.bare_possible((53, 4, -1, 6, 17))  # 1 needs a payload
    assert c.bare_possible((4444, 4, -1, 6, 6))  # 4 needs nothing but the port
    v = c.classify(make_flow(dport=4444, meta={}))
    assert v is not None and v.signature.id == 4
    assert c.classify(make_flow(dport=5938, meta={})) is None


def test_the_memo_remembers_keyed_verdicts_and_stays_bounded() -> None:
    from sensor.classify import classifier as mod

    c = clf(sig(1, {"domain": ["example.net"]}), sig(2, {"field": "app_proto", "equals": ["ssh"]}))
    plain = Classifier(c.signatures, c.policy, "v1", memo=False)
    flows = [make_flow(meta={"tls.sni": f"h{i % 50}.example.net"}) for i in range(200)]
    flows += [make_flow(sport=40000 + i, meta={"app_proto": "ssh"}) for i in range(100)]
    for f in flows:
        a, b = c.classify(f), plain.classify(f)
        assert (a and (a.signature.id, a.evidence)) == (b and (b.signature.id, b.evidence))
    assert c.memo_counts["miss"] == 51 and c.memo_counts["hit"] == 249
    small = mod._Generations(4, c.memo_counts)
    for i in range(100):
        small.put(i, i)
    assert len(small.new) + len(small.old) <= 8 and small.get(99) == 99
    assert small.get(0) is mod._MISSING and c.memo_counts["evicted"] == 92


def test_the_gates_of_a_flow_without_a_view_are_those_of_its_view() -> None:
    from tests.unit.classify.helpers import view

    c = build_classifier(SignaturesConfig(), PolicyConfig())
    for src, dst, sport, dport in (
        ("10.20.1.15", "203.0.113.10", 50000, 443),
        ("203.0.113.10", "10.20.1.15", 443, 50000),
        ("2001:db8::1", "2001:db8:ffff::2", 40000, 4500),
        ("2001:db8:ffff::2", "2001:db8::1", 4500, 40000),
    ):
        for proto in (6, 17, 50):
            f = make_flow(src, dst, sport, dport, proto, meta={}, bytes_tc=3_000_000)
            assert c._flow_gates(f) == c._gates_of_numbers(view(f))


def test_the_memo_steps_aside_while_it_does_not_pay_and_verdicts_stay() -> None:
    from sensor.classify import classifier as mod

    c = clf(sig(1, {"domain": ["example.net"]}), sig(2, {"field": "app_proto", "equals": ["ssh"]}))
    plain = Classifier(c.signatures, c.policy, "v1", memo=False)
    n = 3 * mod._WINDOW  # warm-up, one judged window of ever new names, then plain
    flows = [make_flow(meta={"tls.sni": f"h{i}.example.net"}) for i in range(n)]
    for f in flows:
        a, b = c.classify(f), plain.classify(f)
        assert (a and (a.signature.id, a.evidence)) == (b and (b.signature.id, b.evidence))
    assert c.memo_counts["hit"] == 0 and c.memo_counts["miss"] == 2 * mod._WINDOW
    assert c.memo_counts["bypass"] == mod._WINDOW


def test_a_memo_key_holding_long_wire_text_is_computed_and_not_kept() -> None:
    """A field of few values (FEW_VALUES: ALPN, SSDP targets) is read into the memo key, and
    a sender picks its value: 16,384 keys of 4 KB ALPN lists would hold some 80 MB. Such a
    key is counted (unkept) and its verdict computed each time; short keys are remembered
    as before."""
    from sensor.classify import classifier as mod

    c = clf(sig(1, [{"field": "tls.alpn", "equals": ["anydesk/6.2.0"]}, {"port": [443]}]))
    plain = Classifier(c.signatures, c.policy, "v1", memo=False)
    long_ = [make_flow(meta={"tls.alpn": f"{'x' * 2000}{i}"}) for i in range(20)]
    short = [make_flow(meta={"tls.alpn": "anydesk/6.2.0"}) for _ in range(20)]
    for f in long_ + short:
        a, b = c.classify(f), plain.classify(f)
        assert (a and (a.signature.id, a.evidence)) == (b and (b.signature.id, b.evidence))
    assert c.classify(short[0]) is not None
    assert c.memo_counts["unkept"] == 20
    assert c.memo_counts["miss"] == 21 and c.memo_counts["hit"] == 20
    kept = [k for k in c._memo.new if isinstance(k, tuple)]
    assert kept and all(mod._text_in(k) <= mod._MEMO_KEY_TEXT for k in kept)
