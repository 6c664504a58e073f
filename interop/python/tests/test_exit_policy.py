import unittest

from meowonion_py import exit_policy


class ExitPolicyTest(unittest.TestCase):
    def test_first_match_wins_and_no_match_rejects(self):
        policy = exit_policy.parse("accept 127.0.0.0/8:*,reject *:*")
        self.assertTrue(exit_policy.allows(policy, "127.0.0.1", 80))
        self.assertFalse(exit_policy.allows(policy, "192.0.2.1", 80))
        self.assertFalse(exit_policy.allows(exit_policy.parse("reject *:25"), "127.0.0.1", 80))

    def test_bare_ports_repeat_the_previous_rule(self):
        policy = exit_policy.parse("accept *:80,443")
        self.assertEqual([(r.port_min, r.port_max, r.address_prefix) for r in policy.rules], [(80, 80, "*"), (443, 443, "*")])
        self.assertTrue(exit_policy.allows(policy, "::1", 443))
        self.assertFalse(exit_policy.allows(policy, "::1", 444))

    def test_prefixes_are_per_family(self):
        policy = exit_policy.parse("accept 10.0.0.0/8:1-1024, accept [2001:db8::]/32:22")
        self.assertTrue(exit_policy.allows(policy, "10.1.2.3", 1024))
        self.assertFalse(exit_policy.allows(policy, "10.1.2.3", 1025))
        self.assertTrue(exit_policy.allows(policy, "2001:db8::5", 22))
        self.assertFalse(exit_policy.allows(policy, "2001:db9::5", 22))

    def test_what_a_host_name_may_reach(self):
        self.assertTrue(exit_policy.may_allow_port(exit_policy.parse("accept 127.0.0.0/8:*,reject *:*"), 8080))
        self.assertFalse(exit_policy.may_allow_port(exit_policy.parse("reject *:*"), 80))
        self.assertFalse(exit_policy.may_allow_port(exit_policy.parse("reject *:80,accept *:*"), 80))
        self.assertFalse(exit_policy.may_allow_port(exit_policy.parse("reject 127.0.0.0/8:*,accept 127.0.0.1:*"), 80))
        self.assertTrue(exit_policy.may_allow_port(exit_policy.parse("reject 127.0.0.0/9:*,accept 127.0.0.0/8:*"), 80))
        self.assertTrue(exit_policy.may_allow_port(exit_policy.parse("reject 0.0.0.0/0:*,accept *:80"), 80))
        self.assertFalse(exit_policy.accepts_anything(exit_policy.parse("reject *:*")))

    def test_refuses_nonsense(self):
        for text in ("allow *:80", "accept *:0", "accept *:9-8", "80"):
            with self.assertRaises(ValueError, msg=text):
                exit_policy.parse(text)


if __name__ == "__main__":
    unittest.main()
