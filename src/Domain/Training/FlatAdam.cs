using Pix2Pix.Domain.Networks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Training;

/// <summary>
/// Adam over one network's parameters kept as views of three contiguous buffers (values, first and second moments),
/// so the update is one pass over all the parameters at once (<see cref="FusedAdamKernel"/> on the CPU; the same
/// tensor operations, flat, on a GPU) instead of eight kernels per parameter — the idea behind PyTorch's foreach/fused
/// Adam. Gradients are not flat: <see cref="ZeroGrad"/> drops them (PyTorch's <c>set_to_none</c>), so backward hands
/// each parameter the gradient it computed instead of adding it to zeros, and nothing is zeroed.
/// With <c>matchTorchSharp</c> the arithmetic is TorchSharp's <see cref="Adam"/>, bit for bit; without it the square
/// root is the CPU's own (correctly rounded, one pass instead of two) and some elements differ in their last bit.
/// TorchSharp's optimizer still holds the options and per-parameter state, and writes and reads the checkpoint
/// format unchanged. Given layers with <see cref="IHasTrainingWeightCopy"/> (CPU, without <c>matchTorchSharp</c>), it
/// keeps their bf16 weight copies: the update reads the copy's bf16 gradient and writes the new weight to both.
/// </summary>
public sealed class FlatAdam : IDisposable
{
    private readonly Parameter[] parameters;
    private readonly double beta1, beta2, epsilon;
    private readonly bool matchTorchSharp;
    private readonly TrainingWeightCopy?[] copies;
    private Tensor? values, averages, squares;
    private Adam.State[] states = [];

    public FlatAdam(IEnumerable<Parameter> parameters, double learningRate, double beta1, double beta2, double epsilon = 1e-8,
        bool matchTorchSharp = true, IEnumerable<IHasTrainingWeightCopy>? weightCopies = null)
    {
        this.parameters = parameters.ToArray();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
        this.matchTorchSharp = matchTorchSharp;
        copies = new TrainingWeightCopy?[this.parameters.Length];
        foreach (var layer in weightCopies ?? [])
        {
            int index = Array.FindIndex(this.parameters, p => ReferenceEquals(p, layer.Weight));
            if (index < 0) throw new ArgumentException("A layer's weight is not among the parameters.", nameof(weightCopies));
            copies[index] = layer.WeightCopy;
        }
        if (copies.Any(c => c is not null) && (matchTorchSharp || this.parameters[0].device_type != TorchSharp.DeviceType.CPU))
            throw new ArgumentException("bf16 weight copies are kept on the CPU, without matchTorchSharp.", nameof(weightCopies));
        State = optim.Adam(this.parameters, learningRate, beta1, beta2, epsilon);
        Bind();
    }

    /// <summary>TorchSharp's optimizer over the same parameters: learning rate, step counts, checkpoint format.</summary>
    public Adam State { get; }

    public double LearningRate
    {
        get => State.ParamGroups.First().LearningRate;
        set
        {
            foreach (var group in State.ParamGroups) group.LearningRate = value;
        }
    }

    /// <summary>
    /// Makes every parameter and its two moments views of the flat buffers, keeping their values. Called again after
    /// anything replaced those tensors (a checkpoint load).
    /// </summary>
    public void Bind()
    {
        states = State.state_dict().State.Cast<Adam.State>().ToArray();
        long total = parameters.Sum(p => p.numel());
        var device = parameters[0].device;
        var newValues = empty(total, ScalarType.Float32, device);
        var newAverages = empty(total, ScalarType.Float32, device);
        var newSquares = empty(total, ScalarType.Float32, device);
        using (no_grad())
        {
            long offset = 0;
            for (int i = 0; i < parameters.Length; i++)
            {
                var parameter = parameters[i];
                if (parameter.dtype != ScalarType.Float32)
                    throw new InvalidOperationException($"FlatAdam keeps fp32 master weights; parameter {i} is {parameter.dtype}.");
                var value = View(newValues, offset, parameter.shape);
                value.copy_(parameter);
                parameter.set_(value);
                states[i].exp_avg = Rebind(View(newAverages, offset, parameter.shape), states[i].exp_avg);
                states[i].exp_avg_sq = Rebind(View(newSquares, offset, parameter.shape), states[i].exp_avg_sq);
                if (copies[i] is { } copy)
                {
                    copy.Value?.Dispose();
                    copy.Value = parameter.to(ScalarType.BFloat16).requires_grad_(true);
                }
                offset += parameter.numel();
            }
        }
        values?.Dispose();
        averages?.Dispose();
        squares?.Dispose();
        (values, averages, squares) = (newValues, newAverages, newSquares);
    }

    private static Tensor View(Tensor flat, long offset, long[] shape)
    {
        using var segment = flat.narrow(0, offset, shape.Aggregate(1L, (a, b) => a * b));
        return segment.view(shape);
    }

    private static Tensor Rebind(Tensor view, Tensor old)
    {
        view.copy_(old);
        old.Dispose();
        return view;
    }

    /// <summary>Drops every gradient; the next backward gives each parameter a new one.</summary>
    public void ZeroGrad()
    {
        foreach (var parameter in parameters) parameter.grad = null;
        foreach (var copy in copies)
            if (copy?.Value is { } value) value.grad = null;
    }

    /// <summary>TorchSharp's Adam step (no weight decay, no amsgrad), on all parameters at once. Every parameter must have a gradient.</summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        var gradients = new Tensor[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            var gradient = (copies[i] is { Value: { } copy } ? copy.grad : parameters[i].grad)
                ?? throw new InvalidOperationException($"Parameter {i} has no gradient: FlatAdam steps all of a network's parameters together.");
            // Backward gives a gradient the parameter's layout (contiguous here); anything else is copied to it.
            gradients[i] = gradient.is_contiguous() ? gradient : gradient.contiguous();
        }
        foreach (var state in states) state.step += 1;
        long step = states[0].step;
        double biasCorrection1 = 1 - Math.Pow(beta1, step), biasCorrection2 = 1 - Math.Pow(beta2, step);
        if (values!.device_type == TorchSharp.DeviceType.CPU)
        {
            var scalars = new FusedAdamKernel.Scalars((float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2),
                (float)Math.Sqrt(biasCorrection2), (float)epsilon, (float)(-LearningRate / biasCorrection1));
            FusedAdamKernel.Update(values, gradients, averages!, squares!, scalars, matchTorchSharp, copies.Select(c => c?.Value).ToArray());
            return;
        }
        using var noGrad = no_grad();
        var flatGradients = cat(gradients.Select(g => g.view(-1)).ToArray());
        averages!.mul_(beta1).add_(flatGradients, alpha: 1 - beta1);
        squares!.mul_(beta2).addcmul_(flatGradients, flatGradients, value: 1 - beta2);
        var denominator = (squares.sqrt() / Math.Sqrt(biasCorrection2)).add_(epsilon);
        values.addcdiv_(averages, denominator, value: -LearningRate / biasCorrection1);
    }

    public void Dispose()
    {
        foreach (var copy in copies.OfType<TrainingWeightCopy>())
        {
            copy.Value?.Dispose();
            copy.Value = null;
        }
        State.Dispose();
        values?.Dispose();
        averages?.Dispose();
        squares?.Dispose();
    }
}
