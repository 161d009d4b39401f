package tfo

// Each platform's file, conn_GOOS.go (conn_other.go for the systems without fast
// open), provides the same set of unexported names, which the rest of the package
// calls:
//
//	dialSocket        dials an address, deferring the connect where it can
//	deferred          reports whether a socket's connect waits for its first write
//	tryFirst          writes the first bytes without waiting: the SYN, over loopback
//	                  the whole handshake
//	sendFirst         writes the first bytes and waits for the handshake
//	unreachable       reports whether a connect's errno lets the next address be tried
//	synDataLost       reports whether a SYN's data was lost and sent again without it
//	dialFastOpen      enables fast open on a socket about to connect
//	refusedForGood    reports whether the system's refusal of fast open holds
//	listenFastOpen    enables fast open on a listener; fastOpenAfterListen says when
//	setListenKeys     gives a listener fast open keys of its own
//	isMultipath       reports whether a socket is an MPTCP one
//	fastOpened        reports whether a connection was fast-opened
//	fastOpenOutcome   tells what became of fast open on a connection
//	cookieCached      reports whether the system holds a cookie for an address
//	synData           counts the bytes that an accepted connection's SYN carried
