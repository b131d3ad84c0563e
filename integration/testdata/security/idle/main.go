// Command idle is the smallest container the security tests need: it runs until it is
// stopped and listens on nothing, so a container on the host network binds no port.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
