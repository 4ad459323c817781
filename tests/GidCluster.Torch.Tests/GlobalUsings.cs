// TorchSharp's names as every test file here writes them.
global using GidCluster.TestSupport;
global using TorchSharp;
global using Xunit;
global using F = TorchSharp.torch.nn.functional;
global using ScalarType = TorchSharp.torch.ScalarType;
global using Tensor = TorchSharp.torch.Tensor;
#pragma warning disable CS8981 // lower-case names mirror torch's API on purpose
global using nn = TorchSharp.torch.nn;
global using optim = TorchSharp.torch.optim;
#pragma warning restore CS8981
