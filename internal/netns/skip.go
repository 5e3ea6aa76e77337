package netns

import (
	"os"
	"testing"
)

// RequireEnv names the environment variable that turns the skips of this
// package into failures: .ci/run sets it, so that namespace tests can never
// pass in CI by not running.
const RequireEnv = "DISCOVERY_REQUIRE_NETNS"

func skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (and %s=1 requires namespace tests to run)", why, RequireEnv)
	}
	t.Skip(why)
}
