// Package broken does not type-check for linux.
package broken

func f() int { return "one" }
