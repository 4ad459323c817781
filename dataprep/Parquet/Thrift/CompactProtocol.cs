using System.Buffers.Binary;


namespace GidCluster.Dataprep.Parquet.Thrift;

/// <summary>
/// Wire types of the Thrift compact protocol (the low nibble of a field header, or of a list header).
/// </summary>
internal enum CompactType : byte
{
    Stop = 0,
    BooleanTrue = 1,
    BooleanFalse = 2,
    Byte = 3,
    I16 = 4,
    I32 = 5,
    I64 = 6,
    Double = 7,
    Binary = 8,
    List = 9,
    Set = 10,
    Map = 11,
    Struct = 12,
}

/// <summary>
/// Reads the subset of the Thrift compact protocol that Parquet metadata uses.
/// Grammar (thrift-compact-protocol.md): a struct is a sequence of field headers
/// <c>[delta:4 | type:4]</c> (delta 0 → a zigzag-varint i16 id follows) each followed by its value,
/// ended by a 0 byte; integers are zigzag varints; binary is <c>varint length, bytes</c>; a list is
/// <c>[size:4 | elemtype:4]</c> (size 15 → a varint size follows) then the elements.
/// Every length and count is checked against the bytes left, so corrupt input fails fast with
/// <see cref="CorruptDataException"/> instead of allocating or looping.
/// </summary>
internal sealed class CompactReader
{
    private const int MaxDepth = 32;
    private readonly byte[] _buffer;
    private readonly int _end;
    private readonly Stack<short> _lastFieldIds = new();
    private short _lastFieldId;
    private bool? _pendingBool;

    public CompactReader(byte[] buffer, int start, int length)
    {
        _buffer = buffer;
        Position = start;
        _end = start + length;
    }

    public int Position { get; private set; }

    public int Remaining => _end - Position;

    public void BeginStruct()
    {
        if (_lastFieldIds.Count >= MaxDepth)
            throw new CorruptDataException("Thrift structures nested too deeply");
        _lastFieldIds.Push(_lastFieldId);
        _lastFieldId = 0;
    }

    public void EndStruct() => _lastFieldId = _lastFieldIds.Pop();

    /// <summary>Reads the next field header; false at the struct's stop byte.</summary>
    public bool ReadFieldHeader(out short id, out CompactType type)
    {
        var header = ReadByteRaw();
        type = (CompactType)(header & 0x0F);
        if (type == CompactType.Stop)
        {
            id = 0;
            return false;
        }
        var delta = header >> 4;
        id = delta == 0 ? checked((short)ReadZigZag32()) : (short)(_lastFieldId + delta);
        _lastFieldId = id;
        _pendingBool = type switch
        {
            CompactType.BooleanTrue => true,
            CompactType.BooleanFalse => false,
            _ => null,
        };
        if (type > CompactType.Struct)
            throw new CorruptDataException($"unknown Thrift field type {(int)type}");
        return true;
    }

    /// <summary>A boolean struct field: its value travels in the field header.</summary>
    public bool ReadBoolField() =>
        _pendingBool ?? throw new CorruptDataException("expected a boolean field");

    public sbyte ReadI8() => (sbyte)ReadByteRaw();

    public short ReadI16() => checked((short)ReadZigZag32());

    public int ReadI32() => ReadZigZag32();

    public long ReadI64() => ReadZigZag64();

    public double ReadDouble()
    {
        Need(8);
        var v = BinaryPrimitives.ReadDoubleLittleEndian(_buffer.AsSpan(Position, 8));
        Position += 8;
        return v;
    }

    public byte[] ReadBinary()
    {
        var length = ReadVarint64();
        if (length > (ulong)Remaining)
            throw new TruncatedDataException($"Thrift binary of {length} bytes exceeds the {Remaining} bytes left");
        var bytes = _buffer.AsSpan(Position, (int)length).ToArray();
        Position += (int)length;
        return bytes;
    }

    public string ReadString()
    {
        var bytes = ReadBinary();
        return System.Text.Encoding.UTF8.GetString(bytes);
    }

    /// <summary>Reads a list (or set) header; the count is bounded by the bytes left (every element takes at least one byte).</summary>
    public int ReadListHeader(out CompactType elementType)
    {
        var header = ReadByteRaw();
        elementType = (CompactType)(header & 0x0F);
        ulong count = (ulong)(header >> 4);
        if (count == 15)
            count = ReadVarint64();
        if (count > (ulong)Remaining)
            throw new TruncatedDataException($"Thrift list of {count} elements exceeds the {Remaining} bytes left");
        return (int)count;
    }

    /// <summary>Skips a value of the given type (fields this reader does not use).</summary>
    public void Skip(CompactType type, int depth = 0)
    {
        if (depth > MaxDepth)
            throw new CorruptDataException("Thrift values nested too deeply");
        switch (type)
        {
            case CompactType.BooleanTrue:
            case CompactType.BooleanFalse:
                return; // value lives in the field header
            case CompactType.Byte:
                ReadByteRaw();
                return;
            case CompactType.I16:
            case CompactType.I32:
            case CompactType.I64:
                ReadVarint64();
                return;
            case CompactType.Double:
                Need(8);
                Position += 8;
                return;
            case CompactType.Binary:
                var length = ReadVarint64();
                if (length > (ulong)Remaining)
                    throw new TruncatedDataException($"Thrift binary of {length} bytes exceeds the {Remaining} bytes left");
                Position += (int)length;
                return;
            case CompactType.List:
            case CompactType.Set:
                var count = ReadListHeader(out var elementType);
                for (var i = 0; i < count; i++)
                {
                    if (elementType is CompactType.BooleanTrue or CompactType.BooleanFalse)
                        ReadByteRaw(); // inside lists a boolean is one byte
                    else
                        Skip(elementType, depth + 1);
                }
                return;
            case CompactType.Map:
                var entries = ReadVarint64();
                if (entries == 0)
                    return;
                if (entries > (ulong)Remaining)
                    throw new TruncatedDataException($"Thrift map of {entries} entries exceeds the {Remaining} bytes left");
                var kinds = ReadByteRaw();
                for (ulong i = 0; i < entries; i++)
                {
                    Skip((CompactType)(kinds >> 4), depth + 1);
                    Skip((CompactType)(kinds & 0x0F), depth + 1);
                }
                return;
            case CompactType.Struct:
                BeginStruct();
                while (ReadFieldHeader(out _, out var fieldType))
                    Skip(fieldType, depth + 1);
                EndStruct();
                return;
            default:
                throw new CorruptDataException($"unknown Thrift type {(int)type}");
        }
    }

    private byte ReadByteRaw()
    {
        Need(1);
        return _buffer[Position++];
    }

    private int ReadZigZag32()
    {
        var raw = ReadVarint64();
        if (raw > uint.MaxValue)
            throw new CorruptDataException("Thrift i32 varint out of range");
        var u = (uint)raw;
        return (int)(u >> 1) ^ -(int)(u & 1);
    }

    private long ReadZigZag64()
    {
        var u = ReadVarint64();
        return (long)(u >> 1) ^ -(long)(u & 1);
    }

    private ulong ReadVarint64()
    {
        ulong result = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            var b = ReadByteRaw();
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return result;
        }
        throw new CorruptDataException("Thrift varint longer than 10 bytes");
    }

    private void Need(int count)
    {
        if (Remaining < count)
            throw new TruncatedDataException("Thrift structure ends early (truncated metadata)");
    }
}

/// <summary>Writes the Thrift compact protocol subset that Parquet metadata uses (see <see cref="CompactReader"/>).</summary>
internal sealed class CompactWriter
{
    private readonly MemoryStream _out = new();
    private readonly Stack<short> _lastFieldIds = new();
    private short _lastFieldId;

    public byte[] ToArray() => _out.ToArray();

    public void BeginStruct()
    {
        _lastFieldIds.Push(_lastFieldId);
        _lastFieldId = 0;
    }

    public void EndStruct()
    {
        _out.WriteByte(0);
        _lastFieldId = _lastFieldIds.Pop();
    }

    public void FieldI32(short id, int value)
    {
        FieldHeader(id, CompactType.I32);
        WriteI32(value);
    }

    public void FieldI64(short id, long value)
    {
        FieldHeader(id, CompactType.I64);
        WriteVarint(ZigZag(value));
    }

    public void FieldI16(short id, short value)
    {
        FieldHeader(id, CompactType.I16);
        WriteI32(value);
    }

    public void FieldBool(short id, bool value) =>
        FieldHeader(id, value ? CompactType.BooleanTrue : CompactType.BooleanFalse);

    public void FieldBinary(short id, ReadOnlySpan<byte> value)
    {
        FieldHeader(id, CompactType.Binary);
        WriteBinary(value);
    }

    public void FieldString(short id, string value) => FieldBinary(id, System.Text.Encoding.UTF8.GetBytes(value));

    /// <summary>Starts a struct-valued field; the caller writes its fields then calls <see cref="EndStruct"/>.</summary>
    public void FieldStructBegin(short id)
    {
        FieldHeader(id, CompactType.Struct);
        BeginStruct();
    }

    /// <summary>Starts a list-valued field; the caller then writes <paramref name="count"/> elements.</summary>
    public void FieldListBegin(short id, CompactType elementType, int count)
    {
        FieldHeader(id, CompactType.List);
        if (count < 15)
        {
            _out.WriteByte((byte)((count << 4) | (byte)elementType));
        }
        else
        {
            _out.WriteByte((byte)(0xF0 | (byte)elementType));
            WriteVarint((ulong)count);
        }
    }

    public void WriteI32(int value) => WriteVarint((uint)((value << 1) ^ (value >> 31)));

    public void WriteBinary(ReadOnlySpan<byte> value)
    {
        WriteVarint((ulong)value.Length);
        _out.Write(value);
    }

    public void WriteString(string value) => WriteBinary(System.Text.Encoding.UTF8.GetBytes(value));

    private void FieldHeader(short id, CompactType type)
    {
        var delta = id - _lastFieldId;
        if (delta is > 0 and <= 15)
        {
            _out.WriteByte((byte)((delta << 4) | (byte)type));
        }
        else
        {
            _out.WriteByte((byte)type);
            WriteI32(id);
        }
        _lastFieldId = id;
    }

    private static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

    private void WriteVarint(ulong value)
    {
        while (value >= 0x80)
        {
            _out.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        _out.WriteByte((byte)value);
    }
}
