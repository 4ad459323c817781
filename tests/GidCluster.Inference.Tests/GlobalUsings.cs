global using GidCluster.TestSupport;
global using TorchSharp;
global using Xunit;
global using Tensor = TorchSharp.torch.Tensor;
