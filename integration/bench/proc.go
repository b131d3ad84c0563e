package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat. The kernel reports them in
// USER_HZ, which is 100 on every Linux architecture Go supports.
const userHZ = 100

// cpuTime is the CPU a process tree has used so far.
type cpuTime struct{ user, sys time.Duration }

func (c cpuTime) total() time.Duration { return c.user + c.sys }

func (c cpuTime) sub(o cpuTime) cpuTime { return cpuTime{c.user - o.user, c.sys - o.sys} }

// procStat reads a process's parent and CPU times from /proc/PID/stat. The command name (field
// 2) may contain spaces and parentheses, so fields are counted from the last ')'.
func procStat(pid int) (ppid int, c cpuTime, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, c, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (ppid int, c cpuTime, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, c, fmt.Errorf("stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ppid(4) ... utime(14) stime(15).
	if len(f) < 13 {
		return 0, c, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, c, fmt.Errorf("stat: ppid %q", f[1])
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, c, fmt.Errorf("stat: utime %q stime %q", f[11], f[12])
	}
	tick := time.Second / userHZ
	return ppid, cpuTime{time.Duration(ut) * tick, time.Duration(st) * tick}, nil
}

// tree returns root and all its descendants (nginx's workers are children of its master).
func tree(root int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, err := procStat(pid); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// treeCPU is the CPU time used so far by root and its live descendants.
func treeCPU(root int) cpuTime {
	var sum cpuTime
	for _, pid := range tree(root) {
		if _, c, err := procStat(pid); err == nil {
			sum.user += c.user
			sum.sys += c.sys
		}
	}
	return sum
}

// memory is resident memory in bytes, summed over a process tree.
type memory struct{ rss, peak int64 }

// treeMemory sums VmRSS and VmHWM (the peak since start or since resetPeak) over the tree.
func treeMemory(root int) memory {
	var m memory
	for _, pid := range tree(root) {
		rss, hwm := statusMemory(pid)
		m.rss += rss
		m.peak += hwm
	}
	return m
}

func statusMemory(pid int) (rss, hwm int64) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	return rss, hwm
}

// resetPeak sets VmHWM back to the current RSS for every process of the tree (writing 5 to
// clear_refs, Linux 4.0+), so the peak read after a scenario is that scenario's.
func resetPeak(root int) {
	for _, pid := range tree(root) {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
}

// treeCPUPrecise is the CPU time of every live thread of the tree, summed from
// /proc/PID/task/TID/schedstat (nanoseconds on a CPU): finer than stat's 10 ms ticks, for
// the short windows of a reload. A thread that exits inside the window is missed; Go keeps
// its threads.
func treeCPUPrecise(root int) time.Duration {
	var sum time.Duration
	for _, pid := range tree(root) {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				continue
			}
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}
