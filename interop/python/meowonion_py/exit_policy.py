"""Exit policies (descriptor.proto ExitPolicy): text form, and first-match evaluation."""
import ipaddress

from .spec import descriptor as d

ACCEPT = d.EXIT_ACTION_ACCEPT
REJECT = d.EXIT_ACTION_REJECT


def parse(text: str) -> d.ExitPolicy:
    """"accept 127.0.0.0/8:*,reject *:*"; a bare PORTS item repeats the previous action and address."""
    policy = d.ExitPolicy()
    action = prefix = None
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        words = item.split()
        if len(words) == 2:
            action = {"accept": ACCEPT, "reject": REJECT}.get(words[0])
            if action is None:
                raise ValueError(f"exit policy rule {item!r}: expected accept or reject")
            prefix, _, ports = words[1].rpartition(":")
            prefix = prefix.replace("[", "").replace("]", "")
        elif len(words) == 1 and action is not None:
            ports = words[0]
        else:
            raise ValueError(f"exit policy rule {item!r} not understood")
        low, high = _ports(ports)
        if prefix != "*":
            prefix = str(ipaddress.ip_network(prefix, strict=False))
        policy.rules.add(action=action, address_prefix=prefix, port_min=low, port_max=high)
    return policy


def _ports(text: str) -> tuple[int, int]:
    if text == "*":
        return 1, 65535
    low, _, high = text.partition("-")
    lo, hi = int(low), int(high or low)
    if not 1 <= lo <= hi <= 65535:
        raise ValueError(f"bad port range {text!r}")
    return lo, hi


def _networks(prefix: str) -> list:
    if prefix == "*":
        return [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
    return [ipaddress.ip_network(prefix, strict=False)]


def allows(policy: d.ExitPolicy, address: str, port: int) -> bool:
    """First rule matching address and port decides; none matching rejects."""
    addr = ipaddress.ip_address(address)
    for rule in policy.rules:
        if rule.port_min <= port <= rule.port_max and any(n.version == addr.version and addr in n for n in _networks(rule.address_prefix)):
            return rule.action == ACCEPT
    return False


def _minus(networks: list, taken) -> list:
    """The parts of `networks` outside `taken`."""
    left = []
    for n in networks:
        if n.version != taken.version or not n.overlaps(taken):
            left.append(n)
        elif n.prefixlen < taken.prefixlen:
            left.extend(n.address_exclude(taken))
    return left


def may_allow_port(policy: d.ExitPolicy, port: int) -> bool:
    """Whether some address may be reached on `port` (for a host name the exit resolves):
    an address whose first matching rule for the port is an accept."""
    earlier: list = []
    for rule in policy.rules:
        if not rule.port_min <= port <= rule.port_max:
            continue
        if rule.action == ACCEPT:
            left = _networks(rule.address_prefix)
            for taken in earlier:
                left = _minus(left, taken)
            if left:
                return True
        earlier.extend(_networks(rule.address_prefix))
    return False


def accepts_anything(policy: d.ExitPolicy) -> bool:
    return any(rule.action == ACCEPT for rule in policy.rules)
