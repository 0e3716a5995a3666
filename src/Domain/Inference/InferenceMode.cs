namespace Pix2Pix.Domain.Inference;

/// <summary>How a generator runs at test time; a property of the model, recorded in its package.</summary>
public enum InferenceMode
{
    /// <summary>Running statistics for batch norm, no dropout: deterministic.</summary>
    Eval,

    /// <summary>As the paper did: batch statistics and dropout at test time (seeded, so repeatable).</summary>
    Paper,
}
