package natsbus

// Least-privilege subject permissions for the embedded server's users (see
// UserPermission) or any nats-server configuration.
//
// A worker may only speak for itself: every per-worker subject it may
// publish ends in its own name, so a coordinator that reads the worker name
// from the subject (Subjects.Worker) cannot be fooled by another worker's
// credentials. It may not publish the coordinator's broadcasts (job,
// params, plan).
//
// Replies travel on "_INBOX.>" subjects. Workers may subscribe to all of
// them, so a worker could read another worker's replies to <p>.job.get
// (the job description, identical for every worker of a job, and no
// secret among them). For stricter confinement, give each worker
// ConnConfig.InboxPrefix "_INBOX_<w>" and replace "_INBOX.>" with
// "_INBOX_<w>.>" in its subscribe list.

// inboxWildcard matches nats.go's default reply subjects.
const inboxWildcard = "_INBOX.>"

// WorkerPermissions returns what worker w may publish and subscribe to
// under prefix (empty = DefaultPrefix): publish <p>.join, <p>.job.get and
// its own <p>.leave.<w>, <p>.hb.<w>, <p>.contrib.<w>, <p>.fail.<w> and
// <p>.relay.*.<w> (to any group leader, in its own name); subscribe <p>.job,
// <p>.params, <p>.plan, its own relay inbox <p>.relay.<w>.* and reply
// inboxes. Add
// ObjectReaderPermissions for micro-shards handed out through JetStream.
// w must satisfy ValidWorkerName (not checked here: a wildcard in w would
// widen the grant, so callers validate names where they come in).
func WorkerPermissions(prefix, w string) (publish, subscribe []string) {
	s := Subjects{Prefix: prefix}
	publish = []string{
		s.Join(),
		s.JobRequest(),
		s.Leave(w),
		s.Heartbeat(w),
		s.Contrib(w),
		s.Failure(w),
		s.Relay("*", w),
	}
	subscribe = []string{
		s.Job(),
		s.Params(),
		s.Plan(),
		s.RelayInbox(w),
		inboxWildcard,
	}
	return publish, subscribe
}

// CoordinatorPermissions returns what the coordinator may publish and
// subscribe to under prefix: publish the broadcasts (<p>.job, <p>.params,
// <p>.plan), replies and the JetStream API (object stores for micro-shards
// and checkpoints); subscribe to every worker's subjects, job requests and
// reply inboxes.
func CoordinatorPermissions(prefix string) (publish, subscribe []string) {
	s := Subjects{Prefix: prefix}
	publish = []string{
		s.Job(),
		s.Params(),
		s.Plan(),
		inboxWildcard,
		"$JS.API.>",
		"$JS.FC.>", // flow-control replies of ordered consumers (object Get)
		"$O.>",     // object store chunks and metadata (object Put)
	}
	subscribe = []string{
		s.Join(),
		s.JobRequest(),
		s.AllLeaves(),
		s.AllHeartbeats(),
		s.AllContribs(),
		s.AllFailures(),
		inboxWildcard,
	}
	return publish, subscribe
}

// ObjectReaderPermissions returns the extra publish and subscribe
// permissions to read (Get, List) objects of one object store bucket,
// opened with Bus.OpenObjectStore, and nothing else of JetStream.
func ObjectReaderPermissions(bucket string) (publish, subscribe []string) {
	return objectReader("OBJ_" + bucket), []string{inboxWildcard}
}

// AnyObjectReaderPermissions is ObjectReaderPermissions for every bucket
// (and stream) of the account: for workers of jobs whose bucket names are
// not known in advance.
func AnyObjectReaderPermissions() (publish, subscribe []string) {
	return objectReader("*"), []string{inboxWildcard}
}

// objectReader lists the JetStream API subjects that read one stream (a
// bucket's, or "*" for any).
func objectReader(stream string) []string {
	return []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO." + stream,
		"$JS.API.STREAM.MSG.GET." + stream,
		"$JS.API.DIRECT.GET." + stream,
		"$JS.API.DIRECT.GET." + stream + ".>",
		"$JS.API.CONSUMER.CREATE." + stream,
		"$JS.API.CONSUMER.CREATE." + stream + ".>",
		"$JS.API.CONSUMER.DELETE." + stream + ".>",
		"$JS.API.CONSUMER.INFO." + stream + ".>",
		"$JS.FC." + stream + ".>",
	}
}
