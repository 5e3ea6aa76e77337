//go:build !linux

package doctor

// RouteFindings is only implemented on Linux.
func RouteFindings(v4, v6 bool, used []string) []Finding {
	return []Finding{{CheckRoutes, StatusOK, "not checked (Linux only)", ""}}
}
