package store

// *SQL plays every role. There is deliberately no interface with all of
// them: a consumer asks for the roles it uses.
var (
	_ Users         = (*SQL)(nil)
	_ Identities    = (*SQL)(nil)
	_ Credentials   = (*SQL)(nil)
	_ SyncStates    = (*SQL)(nil)
	_ Schedules     = (*SQL)(nil)
	_ Messages      = (*SQL)(nil)
	_ Inbox         = (*SQL)(nil)
	_ Drafts        = (*SQL)(nil)
	_ Raws          = (*SQL)(nil)
	_ Discussions   = (*SQL)(nil)
	_ Contacts      = (*SQL)(nil)
	_ PublicKeys    = (*SQL)(nil)
	_ Tags          = (*SQL)(nil)
	_ Notifications = (*SQL)(nil)
	_ Sessions      = (*SQL)(nil)
	_ Outbox        = (*SQL)(nil)
	_ Idempotency   = (*SQL)(nil)
)
