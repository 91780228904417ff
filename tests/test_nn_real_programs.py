"""Other people's PyTorch programs, run with `import symgrad as torch`, against torch itself.

* The PyTorch tutorial "Sequence Models and Long Short-Term Memory Networks" (LSTMTagger: Embedding,
  LSTM, Linear, log_softmax, NLLLoss, SGD), its training loop as written, on its toy data;
* pytorch/examples word_language_model's `RNNModel` (Dropout, Embedding, LSTM / GRU, Linear,
  log_softmax) and `TransformerModel` (PositionalEncoding, TransformerEncoder with a causal mask),
  a few training steps with clip-free SGD (adapted: `weight.new_zeros` -> `torch.zeros(dtype=)`).
Each program is written once over a `torch` module argument; symgrad's model gets torch's initial
state dict, and the loss trajectories must agree. Skipped without torch.
"""

import math

import numpy as np
import pytest

import symgrad

pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")

torch = pytest.importorskip("torch")

TRAINING_DATA = [
    ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
]


def lstm_tagger_program(torch, steps=5):
    nn, F, optim = torch.nn, torch.nn.functional, torch.optim
    word_to_ix = {}
    for sent, tags in TRAINING_DATA:
        for word in sent:
            if word not in word_to_ix:
                word_to_ix[word] = len(word_to_ix)
    tag_to_ix = {"DET": 0, "NN": 1, "V": 2}

    def prepare_sequence(seq, to_ix):
        idxs = [to_ix[w] for w in seq]
        return torch.tensor(idxs, dtype=torch.long)

    class LSTMTagger(nn.Module):
        def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
            super(LSTMTagger, self).__init__()
            self.hidden_dim = hidden_dim
            self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
            self.lstm = nn.LSTM(embedding_dim, hidden_dim)
            self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

        def forward(self, sentence):
            embeds = self.word_embeddings(sentence)
            lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
            tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
            tag_scores = F.log_softmax(tag_space, dim=1)
            return tag_scores

    model = LSTMTagger(6, 6, len(word_to_ix), len(tag_to_ix)).double()
    loss_function = nn.NLLLoss()

    def train(state=None):
        if state is not None:
            model.load_state_dict(state)
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        losses = []
        for epoch in range(steps):
            for sentence, tags in TRAINING_DATA:
                model.zero_grad()
                sentence_in = prepare_sequence(sentence, word_to_ix)
                targets = prepare_sequence(tags, tag_to_ix)
                tag_scores = model(sentence_in)
                loss = loss_function(tag_scores, targets)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        return losses

    return model, train


class _Programs:
    """word_language_model's models, written over a `torch` module (as model.py writes them)."""

    def __init__(self, torch):
        nn, F = torch.nn, torch.nn.functional

        class RNNModel(nn.Module):
            def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5):
                super(RNNModel, self).__init__()
                self.ntoken = ntoken
                self.drop = nn.Dropout(dropout)
                self.encoder = nn.Embedding(ntoken, ninp)
                self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
                self.decoder = nn.Linear(nhid, ntoken)
                self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

            def forward(self, input, hidden):
                emb = self.drop(self.encoder(input))
                output, hidden = self.rnn(emb, hidden)
                output = self.drop(output)
                decoded = self.decoder(output)
                decoded = decoded.view(-1, self.ntoken)
                return F.log_softmax(decoded, dim=1), hidden

            def init_hidden(self, bsz):  # adapted: model.py's weight.new_zeros (no Tensor.new_zeros yet)
                weight = next(self.parameters())
                zeros = torch.zeros(self.nlayers, bsz, self.nhid, dtype=weight.dtype)
                return (zeros, zeros) if self.rnn_type == "LSTM" else zeros

        class PositionalEncoding(nn.Module):
            def __init__(self, d_model, dropout=0.1, max_len=5000):
                super(PositionalEncoding, self).__init__()
                self.dropout = nn.Dropout(p=dropout)
                pe = torch.zeros(max_len, d_model)
                position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
                div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
                pe[:, 0::2] = torch.sin(position * div_term)
                pe[:, 1::2] = torch.cos(position * div_term)
                pe = pe.unsqueeze(0).transpose(0, 1)
                self.register_buffer("pe", pe)

            def forward(self, x):
                x = x + self.pe[:x.size(0), :]
                return self.dropout(x)

        class TransformerModel(nn.Module):
            def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
                super(TransformerModel, self).__init__()
                self.pos_encoder = PositionalEncoding(ninp, dropout)
                self.input_emb = nn.Embedding(ntoken, ninp)
                self.ninp = ninp
                encoder_layers = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
                self.encoder = nn.TransformerEncoder(encoder_layers, nlayers)
                self.decoder = nn.Linear(ninp, ntoken)

            def forward(self, src, mask):
                src = self.input_emb(src) * math.sqrt(self.ninp)
                src = self.pos_encoder(src)
                output = self.encoder(src, mask=mask)
                output = self.decoder(output)
                return F.log_softmax(output, dim=-1)

        self.RNNModel, self.TransformerModel = RNNModel, TransformerModel


def _copy_state(theirs):
    return {k: symgrad.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}


def test_lstm_tagger_tutorial_trains_as_torch():
    torch.manual_seed(1)
    model_t, train_t = lstm_tagger_program(torch)
    model_s, train_s = lstm_tagger_program(symgrad)
    losses_s = train_s(_copy_state(model_t))
    losses_t = train_t()
    np.testing.assert_allclose(losses_s, losses_t, rtol=1e-9)
    assert losses_s[-1] < losses_s[0]


def _lm_steps(lib, model, data, targets, mask=None, steps=3):
    criterion = lib.nn.NLLLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        if mask is None:
            output, _ = model(data, model.init_hidden(data.shape[1]))
        else:
            output = model(data, mask).view(-1, model.decoder.out_features)
        loss = criterion(output, targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU"])
def test_word_language_model_rnn_trains_as_torch(rnn_type):
    torch.manual_seed(0)
    theirs = _Programs(torch).RNNModel(rnn_type, 11, 6, 5, 2, dropout=0.0).double()
    ours = _Programs(symgrad).RNNModel(rnn_type, 11, 6, 5, 2, dropout=0.0).double()
    ours.load_state_dict(_copy_state(theirs))
    data = np.random.default_rng(0).integers(0, 11, size=(7, 3))
    targets = np.random.default_rng(1).integers(0, 11, size=21)
    np.testing.assert_allclose(_lm_steps(symgrad, ours, symgrad.tensor(data), symgrad.tensor(targets)),
                               _lm_steps(torch, theirs, torch.tensor(data), torch.tensor(targets)), rtol=1e-9)


def test_word_language_model_transformer_trains_as_torch():
    torch.manual_seed(0)
    theirs = _Programs(torch).TransformerModel(11, 8, 2, 16, 2, dropout=0.0).double()
    ours = _Programs(symgrad).TransformerModel(11, 8, 2, 16, 2, dropout=0.0).double()
    ours.load_state_dict(_copy_state(theirs))
    data = np.random.default_rng(0).integers(0, 11, size=(6, 2))
    targets = np.random.default_rng(1).integers(0, 11, size=12)
    mask = np.triu(np.full((6, 6), -np.inf), 1)  # generate_square_subsequent_mask
    np.testing.assert_allclose(
        _lm_steps(symgrad, ours, symgrad.tensor(data), symgrad.tensor(targets), symgrad.tensor(mask)),
        _lm_steps(torch, theirs, torch.tensor(data), torch.tensor(targets), torch.tensor(mask)), rtol=1e-8)
