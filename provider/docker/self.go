package docker

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"
)

var (
	// The engine bind-mounts /etc/hostname, /etc/hosts and /etc/resolv.conf from
	// /var/lib/docker/containers/<id>/ into every container; that path is the most reliable
	// trace of the container's id under both cgroup v1 and v2.
	mountContainerID = regexp.MustCompile(`/containers/([0-9a-f]{64})/`)
	// cgroup v1 (and some v2 setups) name the container's cgroup after its id.
	cgroupContainerID = regexp.MustCompile(`(?:docker[/-]|/docker/)([0-9a-f]{64})`)
	shortHexID        = regexp.MustCompile(`^[0-9a-f]{12}$`)
)

// detectSelf returns the candidate ids of the container wharf runs in: full ids from
// /proc/self/mountinfo and /proc/self/cgroup, and the hostname when it looks like a short
// id (the engine's default hostname). Outside a container it finds nothing. Candidates are
// only trusted once one matches a running container in the engine's list, so a wrong guess
// costs nothing.
func detectSelf(readFile func(string) ([]byte, error), hostname string) []string {
	var ids []string
	add := func(id string) {
		for _, x := range ids {
			if x == id {
				return
			}
		}
		ids = append(ids, id)
	}
	if b, err := readFile("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			// Field 4 is the root of the mount, field 5 the mount point. On the host, the
			// engine's own shm mounts also contain /containers/<id>/, but never at these
			// mount points, so only they are read.
			if len(f) < 5 || (f[4] != "/etc/hostname" && f[4] != "/etc/hosts" && f[4] != "/etc/resolv.conf") {
				continue
			}
			if m := mountContainerID.FindStringSubmatch(f[3]); m != nil {
				add(m[1])
			}
		}
	}
	if b, err := readFile("/proc/self/cgroup"); err == nil {
		for _, m := range cgroupContainerID.FindAllStringSubmatch(string(b), -1) {
			add(m[1])
		}
	}
	if shortHexID.MatchString(hostname) {
		add(hostname)
	}
	return ids
}

// matchesSelf reports whether a container id is one of the candidates (a 12-character
// candidate, from the hostname, matches as a prefix).
func matchesSelf(id string, candidates []string) bool {
	for _, c := range candidates {
		if id == c || len(c) == 12 && strings.HasPrefix(id, c) {
			return true
		}
	}
	return false
}
