// The binding's TorchSharp-shaped names, as every test file here writes them.
global using GidCluster.TestSupport;
global using Xunit;
global using F = GidCluster.Torch.torch.nn.functional;
global using Tensor = GidCluster.Torch.torch.Tensor;
#pragma warning disable CS8981 // lower-case names mirror torch's API on purpose
global using nn = GidCluster.Torch.torch.nn;
global using optim = GidCluster.Torch.torch.optim;
#pragma warning restore CS8981
