package lesson

import (
	"os"
	"strings"
)

// LoadAverage is the machine's 1-, 5- and 15-minute load average ("" where /proc is missing):
// timings on a shared machine mean little without it.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
