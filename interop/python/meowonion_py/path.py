"""Path selection (consensus.proto PATH SELECTION): the exit first, then the entry, then middles;
never one relay twice, never two of one family or (unless allowed) one IPv4 /16 or IPv6 /32;
every choice weighted by bandwidth_weight."""
import ipaddress
import secrets

from . import exit_policy
from .spec import consensus as c


class PathError(Exception):
    pass


def usable(relay) -> bool:
    return c.RELAY_FLAG_RUNNING in relay.flags and c.RELAY_FLAG_VALID in relay.flags


def can_exit_to(relay, host: str, port: int) -> bool:
    if not usable(relay) or c.RELAY_FLAG_BAD_EXIT in relay.flags:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return exit_policy.may_allow_port(relay.exit_policy, port)
    return exit_policy.allows(relay.exit_policy, host, port)


def entry_candidates(relays: list) -> list:
    """Guard-flagged relays; while none has Guard yet, Fast ones; while none is Fast, all usable."""
    candidates = [r for r in relays if usable(r)]
    for flag in (c.RELAY_FLAG_GUARD, c.RELAY_FLAG_FAST):
        flagged = [r for r in candidates if flag in r.flags]
        if flagged:
            return flagged
    return candidates


def _subnets(relay) -> set:
    """The IPv4 /16 and IPv6 /32 a relay's addresses are in."""
    out = set()
    for address, prefix in ((relay.ipv4_address, 16), (relay.ipv6_address, 32)):
        try:
            out.add(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        except ValueError:
            pass
    return out


def conflicts(a, b, distinct_subnets: bool) -> bool:
    if a.identity_key == b.identity_key:
        return True
    if b.identity_key in a.family and a.identity_key in b.family:
        return True
    return distinct_subnets and bool(_subnets(a) & _subnets(b))


def weighted_choice(candidates: list):
    """Probability proportional to bandwidth_weight; uniform when every weight is zero."""
    if not candidates:
        return None
    total = sum(r.bandwidth_weight for r in candidates)
    if total == 0:
        return candidates[secrets.randbelow(len(candidates))]
    point = secrets.randbelow(total)
    for relay in candidates:
        point -= relay.bandwidth_weight
        if point < 0:
            return relay
    raise AssertionError("unreachable: point < total")


def select_path(relays: list, host: str, port: int, hops: int = 3, distinct_subnets: bool = True) -> list:
    exits = [r for r in relays if can_exit_to(r, host, port)]
    while exits:
        exit_relay = weighted_choice(exits)
        exits.remove(exit_relay)
        chosen = [exit_relay]

        def fits(relay) -> bool:
            return all(not conflicts(relay, x, distinct_subnets) for x in chosen)

        entry = weighted_choice([r for r in entry_candidates(relays) if fits(r)]) if hops > 1 else None
        if hops > 1 and entry is None:
            continue
        if entry is not None:
            chosen.append(entry)
        middles = []
        while len(middles) < hops - 2:
            middle = weighted_choice([r for r in relays if usable(r) and fits(r)])
            if middle is None:
                break
            middles.append(middle)
            chosen.append(middle)
        if len(middles) == max(0, hops - 2):
            return ([entry] if entry else []) + middles + [exit_relay]
    raise PathError(f"no path of {hops} relays exits to {host}:{port}")
