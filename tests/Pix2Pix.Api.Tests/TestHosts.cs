// Hangfire keeps process-wide statics (its log provider, bound to the last host's logger factory; JobStorage.Current):
// a host stopping while another starts can hand the other a disposed logger factory. In production a process has one
// host; here the test classes, each starting hosts of their own, run one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
