// The tests seed and draw from TorchSharp's one global generator: classes running in parallel would interleave their draws.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
