package doctor

import (
	"context"
	"os/exec"
	"strings"
	"time"
)

// firewallRules returns the nftables rules that mention port 5353 and drop
// or reject (none when nft is missing or cannot list the ruleset).
func firewallRules() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nft", "list", "ruleset").Output()
	if err != nil {
		return nil
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if strings.Contains(l, "5353") && (strings.Contains(l, "drop") || strings.Contains(l, "reject")) && len(rules) < 4 {
			rules = append(rules, l)
		}
	}
	return rules
}
