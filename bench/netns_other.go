//go:build !linux

package main

// inNetns is false: private network namespaces need Linux.
var inNetns bool

func enterNetns() (code int, done bool) { return 0, false }
